// The server's work-done progress (model loading, denoising steps). vscode-languageclient would
// show it as an anonymous status-bar spinner; this feature takes over
// `window/workDoneProgress/create` so that a rewrite's steps land in the rewrite's own
// notification and model loading shows in the status bar item.

import * as vscode from 'vscode';
import {
  BaseLanguageClient,
  ClientCapabilities,
  FeatureState,
  ProgressToken,
  StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCreateParams,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressReport,
} from 'vscode-languageclient/node';

/** What a progress is about: the server names its tokens `anneal/rewrite/N` and `anneal/load/PID`. */
export type ProgressKind = 'rewrite' | 'load' | 'other';

export interface ProgressEvent {
  token: string;
  kind: ProgressKind;
  phase: 'begin' | 'report' | 'end';
  title: string;
  message?: string;
}

function kindOf(token: string, title?: string): ProgressKind {
  if (token.startsWith('anneal/rewrite/') || title === 'Anneal: rewriting') {
    return 'rewrite';
  }
  if (token.startsWith('anneal/load/')) {
    return 'load';
  }
  return 'other';
}

interface Active {
  kind: ProgressKind;
  title: string;
  message?: string;
  subscription: vscode.Disposable;
  /** Ends the status-bar progress of a load (or any progress not tied to a rewrite). */
  finish?: () => void;
  windowProgress?: vscode.Progress<{ message?: string }>;
}

export class ProgressHub implements StaticFeature {
  private readonly active = new Map<string, Active>();
  private readonly emitter = new vscode.EventEmitter<ProgressEvent>();
  /** Every begin/report/end of every server progress. */
  readonly onProgress = this.emitter.event;

  constructor(private readonly client: BaseLanguageClient) {}

  /** Whether the model is loading right now. */
  get loading(): boolean {
    return [...this.active.values()].some((a) => a.kind === 'load');
  }

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = capabilities.window ?? {};
    capabilities.window.workDoneProgress = true;
  }

  // Called on every (re)start after the client's own ProgressFeature, so this handler replaces
  // that one.
  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, (params: WorkDoneProgressCreateParams) => {
      this.create(params.token);
      return null;
    });
  }

  getState(): FeatureState {
    return { kind: 'static' };
  }

  clear(): void {
    for (const token of [...this.active.keys()]) {
      this.end(token, undefined);
    }
  }

  dispose(): void {
    this.clear();
    this.emitter.dispose();
  }

  private create(token: ProgressToken): void {
    const key = String(token);
    if (this.active.has(key)) {
      return;
    }
    const subscription = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
      switch (value.kind) {
        case 'begin':
          this.begin(key, value);
          break;
        case 'report':
          this.report(key, value);
          break;
        case 'end':
          this.end(key, value.message);
          break;
      }
    });
    this.active.set(key, { kind: kindOf(key), title: 'Anneal', subscription });
  }

  private begin(key: string, value: WorkDoneProgressBegin): void {
    const a = this.active.get(key);
    if (!a) {
      return;
    }
    a.kind = kindOf(key, value.title);
    a.title = value.title;
    a.message = value.message;
    if (a.kind !== 'rewrite') {
      // A rewrite's progress goes to the rewrite's notification; anything else to the status bar.
      void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: value.title }, (progress) => {
        a.windowProgress = progress;
        if (a.message) {
          progress.report({ message: a.message });
        }
        return new Promise<void>((resolve) => {
          a.finish = resolve;
          if (!this.active.has(key)) {
            resolve();
          }
        });
      });
    }
    this.emitter.fire({ token: key, kind: a.kind, phase: 'begin', title: a.title, message: a.message });
  }

  private report(key: string, value: WorkDoneProgressReport): void {
    const a = this.active.get(key);
    if (!a) {
      return;
    }
    if (value.message !== undefined) {
      a.message = value.message;
      a.windowProgress?.report({ message: value.message });
    }
    this.emitter.fire({ token: key, kind: a.kind, phase: 'report', title: a.title, message: a.message });
  }

  private end(key: string, message: string | undefined): void {
    const a = this.active.get(key);
    if (!a) {
      return;
    }
    this.active.delete(key);
    a.subscription.dispose();
    a.finish?.();
    this.emitter.fire({ token: key, kind: a.kind, phase: 'end', title: a.title, message });
  }
}
