// Finds the `anneal` binary, starts `anneal serve` as a language client, and keeps it in step
// with the settings.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';

import { ProgressHub } from './progress';
import { changedSettings, expandPath, initializationOptions, SECTION, SERVER_SETTINGS, userValue } from './settings';

export const LANGUAGES = ['rust', 'python'];
const INSTALL_HINT =
  'Install it from the Anneal repository with `cargo install --path server` (it goes to ~/.cargo/bin), or set `anneal.serverPath` to the binary.';

function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) {
      return false;
    }
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `anneal.serverPath`, else `anneal` on PATH, else ~/.cargo/bin/anneal (where cargo install puts it). */
export function findServer(): { path: string } | { error: string } {
  const configured = userValue<string>('serverPath');
  if (configured !== undefined && configured.trim() !== '') {
    const p = expandPath(configured);
    if (isExecutableFile(p)) {
      return { path: p };
    }
    return { error: `anneal.serverPath is "${configured}", which is not an executable file.` };
  }
  const names = process.platform === 'win32' ? ['anneal.exe', 'anneal'] : ['anneal'];
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  dirs.push(path.join(os.homedir(), '.cargo', 'bin'));
  for (const dir of dirs) {
    for (const name of names) {
      const p = path.join(dir, name);
      if (isExecutableFile(p)) {
        return { path: p };
      }
    }
  }
  return { error: 'the `anneal` binary was not found on PATH.' };
}

export type ServerState = 'stopped' | 'starting' | 'running' | 'missing' | 'failed';

/** The answer to `anneal/status` (see docs/lsp.md in the repository). */
export interface ServerStatus {
  state: 'idle' | 'loading' | 'ready' | 'failed';
  model: string;
  device: string;
  modelInfo?: { source: string; family: string; parameters: number; dtype: string; editTrained: boolean; followsInstructions: boolean };
  error?: string;
  jobs: number;
}

export class ServerHost implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private hub: ProgressHub | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  /** The binary of the last start. */
  serverPath: string | undefined;
  private _state: ServerState = 'stopped';
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  private readonly progressEmitter = new vscode.EventEmitter<import('./progress').ProgressEvent>();
  private readonly disposables: vscode.Disposable[] = [];
  /** The state of the server process. */
  readonly onDidChangeState = this.stateEmitter.event;
  /** Work-done progress of whichever client is running. */
  readonly onProgress = this.progressEmitter.event;

  constructor(readonly output: vscode.OutputChannel) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SECTION)) {
          return;
        }
        if (e.affectsConfiguration(`${SECTION}.serverPath`)) {
          void this.restart();
        } else if (SERVER_SETTINGS.some((key) => e.affectsConfiguration(`${SECTION}.${key}`)) && this.client?.isRunning()) {
          this.client
            .sendNotification(DidChangeConfigurationNotification.type, { settings: changedSettings() })
            .catch((err) => this.output.appendLine(`didChangeConfiguration failed: ${err}`));
        }
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        // Workspace values of restricted settings count from now on.
        if (this.client?.isRunning()) {
          void this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: changedSettings() });
        }
      }),
    );
  }

  get state(): ServerState {
    return this._state;
  }

  get loading(): boolean {
    return this.hub?.loading ?? false;
  }

  private setState(s: ServerState): void {
    if (s !== this._state) {
      this._state = s;
      this.stateEmitter.fire(s);
    }
  }

  /** The server's `anneal/status` (which model is loaded, its size, why it failed), or undefined
   * while no server runs. */
  async status(): Promise<ServerStatus | undefined> {
    if (!this.client?.isRunning()) {
      return undefined;
    }
    try {
      return await this.client.sendRequest<ServerStatus>('anneal/status');
    } catch {
      return undefined;
    }
  }

  /** The running client, starting it if needed; undefined (after telling the user) if it cannot run. */
  async ready(): Promise<LanguageClient | undefined> {
    if (this.client?.isRunning()) {
      return this.client;
    }
    return this.start();
  }

  start(): Promise<LanguageClient | undefined> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async doStart(): Promise<LanguageClient | undefined> {
    if (this.client) {
      if (this.client.isRunning()) {
        return this.client;
      }
      if (this.client.state === State.Starting) {
        // A restart by the client's own error handler: wait for it.
        await new Promise<void>((resolve) => {
          const d = this.client!.onDidChangeState((e) => {
            if (e.newState !== State.Starting) {
              d.dispose();
              resolve();
            }
          });
        });
        if (this.client.isRunning()) {
          return this.client;
        }
      }
      await this.disposeClient();
    }
    const found = findServer();
    if ('error' in found) {
      this.setState('missing');
      const message = `Anneal: ${found.error} ${INSTALL_HINT}`;
      this.output.appendLine(message);
      void vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log').then((choice) => {
        if (choice === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.serverPath`);
        } else if (choice === 'Show Log') {
          this.output.show(true);
        }
      });
      return undefined;
    }
    this.serverPath = found.path;
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const serverOptions: ServerOptions = {
      command: found.path,
      args: ['serve'],
      options: cwd ? { cwd } : {},
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
      outputChannel: this.output,
      // A function, so that a restart sends the settings of that moment.
      initializationOptions: () => initializationOptions(),
    };
    const client = new LanguageClient('anneal', 'Anneal', serverOptions, clientOptions);
    // Inline completions (LSP 3.18, still "proposed" in this client): fills at the cursor.
    client.registerProposedFeatures();
    const hub = new ProgressHub(client);
    client.registerFeature(hub);
    hub.onProgress((e) => this.progressEmitter.fire(e));
    client.onDidChangeState((e) => {
      if (this.client !== client) {
        return;
      }
      this.setState(e.newState === State.Running ? 'running' : e.newState === State.Starting ? 'starting' : 'stopped');
    });
    this.client = client;
    this.hub = hub;
    this.output.appendLine(`Starting ${found.path} serve${cwd ? ` in ${cwd}` : ''}`);
    this.setState('starting');
    try {
      await client.start();
    } catch (err) {
      if (this.client === client) {
        this.setState('failed');
      }
      const message = `Anneal: the server (${found.path} serve) did not start: ${err instanceof Error ? err.message : String(err)}`;
      this.output.appendLine(message);
      void vscode.window.showErrorMessage(message, 'Show Log').then((choice) => {
        if (choice === 'Show Log') {
          this.output.show(true);
        }
      });
      return undefined;
    }
    return this.client === client ? client : undefined;
  }

  async restart(): Promise<void> {
    await this.disposeClient();
    await this.start();
  }

  private async disposeClient(): Promise<void> {
    const client = this.client;
    const hub = this.hub;
    this.client = undefined;
    this.hub = undefined;
    if (client) {
      try {
        await client.dispose(5000);
      } catch (err) {
        this.output.appendLine(`stopping the server: ${String(err)}`);
      }
    }
    hub?.dispose();
    this.setState('stopped');
  }

  async dispose(): Promise<void> {
    for (const d of this.disposables) {
      d.dispose();
    }
    await this.disposeClient();
    this.stateEmitter.dispose();
    this.progressEmitter.dispose();
  }
}
