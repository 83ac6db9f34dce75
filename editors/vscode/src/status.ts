// The status bar item: model, device and what the server is doing.

import * as vscode from 'vscode';

import { LANGUAGES, ServerHost, ServerStatus } from './server';
import { deviceLabel, modelLabel, SECTION } from './settings';

export type Activity = 'idle' | 'loading' | 'rewriting' | 'starting' | 'stopped' | 'no server' | 'failed';

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private rewriting = false;
  private loading = false;
  /** The server's own account of its model, refreshed when loading ends or the state changes. */
  private server: ServerStatus | undefined;

  constructor(private readonly host: ServerHost) {
    this.item = vscode.window.createStatusBarItem('anneal.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Anneal';
    this.item.command = 'anneal.showOutput';
    this.disposables.push(
      this.item,
      host.onDidChangeState(() => {
        this.update();
        void this.refresh();
      }),
      host.onProgress((e) => {
        if (e.kind === 'load') {
          this.loading = e.phase !== 'end';
          this.update();
          if (e.phase === 'end') {
            void this.refresh();
          }
        }
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) {
          this.update();
        }
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
    );
    this.update();
  }

  private async refresh(): Promise<void> {
    this.server = await this.host.status();
    this.update();
  }

  /** Busy while a rewrite request runs. */
  setRewriting(busy: boolean): void {
    this.rewriting = busy;
    void vscode.commands.executeCommand('setContext', 'anneal.busy', busy);
    this.update();
  }

  get activity(): Activity {
    switch (this.host.state) {
      case 'missing':
        return 'no server';
      case 'failed':
        return 'failed';
      case 'starting':
        return 'starting';
      case 'stopped':
        return 'stopped';
      case 'running':
        break;
    }
    if (this.rewriting) {
      return 'rewriting';
    }
    if (this.loading) {
      return 'loading';
    }
    return 'idle';
  }

  private update(): void {
    const model = modelLabel();
    const device = deviceLabel();
    const activity = this.activity;
    const busy = activity === 'rewriting' || activity === 'loading' || activity === 'starting';
    const icon = busy ? '$(loading~spin)' : activity === 'idle' ? '$(sparkle)' : '$(warning)';
    this.item.text = `${icon} Anneal: ${model.label} · ${device} · ${activity}`;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**Anneal** — ${activity}\n\n`);
    tooltip.appendMarkdown(`Model: \`${model.label}\` (${model.detail})\n\nDevice: \`${device}\`\n\n`);
    const info = this.server?.modelInfo;
    if (info) {
      const size = info.parameters >= 1e9 ? `${(info.parameters / 1e9).toFixed(1)} B` : `${(info.parameters / 1e6).toFixed(1)} M`;
      tooltip.appendMarkdown(`Loaded: \`${info.source}\` — ${info.family}, ${size} parameters, ${info.dtype}${info.editTrained ? ', edit-trained' : ''}\n\n`);
    } else if (this.server?.error) {
      tooltip.appendMarkdown(`Not loaded: ${this.server.error}\n\n`);
    }
    if (this.host.serverPath) {
      tooltip.appendMarkdown(`Server: \`${this.host.serverPath} serve\`\n\n`);
    }
    tooltip.appendMarkdown('Click to show the server log.');
    this.item.tooltip = tooltip;
    this.item.backgroundColor =
      activity === 'no server' || activity === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    const editor = vscode.window.activeTextEditor;
    const relevant =
      !editor ||
      LANGUAGES.includes(editor.document.languageId) ||
      editor.document.uri.scheme === 'anneal-proposal' ||
      busy ||
      activity === 'no server' ||
      activity === 'failed';
    if (relevant) {
      this.item.show();
    } else {
      this.item.hide();
    }
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
