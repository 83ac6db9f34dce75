// One rewrite: ask the server for its code action, resolve it (the model runs there), show the
// proposal as a diff, and apply it on Accept only if the document is still the version the
// proposal was made from.

import * as path from 'path';
import * as vscode from 'vscode';
import {
  CodeAction,
  CodeActionParams,
  CodeActionRequest,
  CodeActionResolveRequest,
  CodeActionTriggerKind,
  ErrorCodes,
  LanguageClient,
  LSPErrorCodes,
  Protocol2CodeConverter,
  ResponseError,
  WorkspaceEdit,
} from 'vscode-languageclient/node';

import { applyTextEdits, editsForDocument, lineChanges } from './edits';
import { InstructionPrompt } from './instructions';
import { LANGUAGES, ServerHost } from './server';
import { StatusItem } from './status';

export const PROPOSAL_SCHEME = 'anneal-proposal';
const REWRITE_KIND = 'refactor.rewrite';
const REWRITE_TITLE = 'Anneal: Rewrite selection';

/** The proposed texts, served to the diff editor's right-hand side. */
export class ProposalContent implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();

  set(uri: vscode.Uri, text: string): void {
    this.texts.set(uri.toString(), text);
  }

  delete(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }
}

interface Proposal {
  id: number;
  documentUri: vscode.Uri;
  proposalUri: vscode.Uri;
  /** The document version the edit is pinned to. */
  version: number;
  /** The server's edit, as it came. */
  edit: WorkspaceEdit;
  converter: Protocol2CodeConverter;
  viewColumn: vscode.ViewColumn | undefined;
  instruction: string | undefined;
  /** Set while the extension itself closes the diff, so that closing is not read as a reject. */
  closing: boolean;
}

interface Pending {
  cts: vscode.CancellationTokenSource;
  superseded: boolean;
}

export interface RewriteOptions {
  /** Ask for an instruction (Rewrite) or send none (Repair). */
  ask: boolean;
  /** An instruction given by the caller (a keybinding's args): no prompt. */
  instruction?: string;
}

class Refusal extends Error {
  constructor(
    message: string,
    readonly level: 'info' | 'warning' | 'error' = 'warning',
  ) {
    super(message);
  }
}

function untilCancelled<T>(promise: Thenable<T>, token: vscode.CancellationToken): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (token.isCancellationRequested) {
      reject(new vscode.CancellationError());
      return;
    }
    const sub = token.onCancellationRequested(() => {
      sub.dispose();
      reject(new vscode.CancellationError());
    });
    promise.then(
      (v) => {
        sub.dispose();
        resolve(v);
      },
      (e: unknown) => {
        sub.dispose();
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function sameUri(a: string, b: string): boolean {
  return a === b || vscode.Uri.parse(a).toString() === vscode.Uri.parse(b).toString();
}

function isCancellation(err: unknown): boolean {
  if (err instanceof vscode.CancellationError) {
    return true;
  }
  return (
    err instanceof ResponseError &&
    (err.code === LSPErrorCodes.RequestCancelled || err.code === LSPErrorCodes.ServerCancelled)
  );
}

function describe(err: unknown): { message: string; level: 'warning' | 'error' } {
  if (err instanceof ResponseError) {
    if (err.code === LSPErrorCodes.ContentModified) {
      return { message: 'the document changed before the model started; run the rewrite again', level: 'warning' };
    }
    if (err.code === LSPErrorCodes.RequestFailed) {
      // The engine's own refusals: would add syntax errors, model not loaded, ...
      return { message: err.message, level: 'warning' };
    }
    if (err.code === ErrorCodes.ConnectionInactive) {
      return { message: 'the server is not running', level: 'error' };
    }
    return { message: err.message, level: 'error' };
  }
  return { message: err instanceof Error ? err.message : String(err), level: 'error' };
}

function show(level: 'info' | 'warning' | 'error', message: string): void {
  const text = `Anneal: ${message}`;
  if (level === 'info') {
    void vscode.window.showInformationMessage(text);
  } else if (level === 'warning') {
    void vscode.window.showWarningMessage(text);
  } else {
    void vscode.window.showErrorMessage(text);
  }
}

export class Rewriter implements vscode.Disposable {
  private pending: Pending | undefined;
  private proposal: Proposal | undefined;
  private nextId = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly host: ServerHost,
    private readonly status: StatusItem,
    private readonly prompt: InstructionPrompt,
    private readonly content: ProposalContent,
  ) {
    this.disposables.push(
      // Closing the diff by hand rejects the proposal.
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        const p = this.proposal;
        if (!p || p.closing) {
          return;
        }
        if (e.closed.some((tab) => this.isDiffOf(tab, p))) {
          this.drop(p);
          vscode.window.setStatusBarMessage('Anneal: proposal rejected', 4000);
        }
      }),
    );
  }

  /** Rewrites the selection (or the cursor's line) of the active editor and shows the proposal. */
  async rewrite(options: RewriteOptions): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      return show('info', 'open a Rust or Python file and select the code to rewrite');
    }
    const document = editor.document;
    if (document.uri.scheme !== 'file' || !LANGUAGES.includes(document.languageId)) {
      return show('info', `rewrites work on Rust and Python files on disk (this is ${document.languageId}, ${document.uri.scheme}:)`);
    }
    const selection = editor.selection;
    const range = selection.isEmpty ? document.lineAt(selection.active.line).range : new vscode.Range(selection.start, selection.end);
    const viewColumn = editor.viewColumn;

    let instruction: string | undefined = options.instruction;
    if (options.ask && instruction === undefined) {
      const answer = await this.prompt.ask('Anneal: Rewrite Selection');
      if (answer === undefined) {
        return;
      }
      instruction = answer;
    }
    instruction = instruction?.trim() || undefined;
    if (instruction) {
      await this.prompt.remember(instruction);
    }

    const client = await this.host.ready();
    if (!client) {
      return;
    }

    // One rewrite at a time: the server runs one model job at a time anyway.
    this.cancel(true);
    const pending: Pending = { cts: new vscode.CancellationTokenSource(), superseded: false };
    this.pending = pending;
    this.status.setRewriting(true);
    // A selection of whole lines ends at column 0 of the next line: name the lines it covers.
    const lastLine = range.end.character === 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line;
    const lines = lastLine > range.start.line ? `${range.start.line + 1}–${lastLine + 1}` : `${range.start.line + 1}`;
    const where = `${path.basename(document.uri.fsPath)}:${lines}`;
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Anneal: rewriting ${where}`, cancellable: true },
        (progress, token) => {
          token.onCancellationRequested(() => pending.cts.cancel());
          return this.request(client, document, range, instruction, progress, pending.cts.token);
        },
      );
      if (this.pending !== pending) {
        return;
      }
      await this.propose(client, document, result.resolved, result.version, viewColumn, instruction);
    } catch (err) {
      if (isCancellation(err) || pending.cts.token.isCancellationRequested) {
        if (!pending.superseded) {
          vscode.window.setStatusBarMessage('Anneal: rewrite cancelled', 4000);
        }
        return;
      }
      if (err instanceof Refusal) {
        return show(err.level, err.message);
      }
      const { message, level } = describe(err);
      this.host.output.appendLine(`rewrite failed: ${message}`);
      show(level, `rewrite failed: ${message}`);
    } finally {
      if (this.pending === pending) {
        this.pending = undefined;
        this.status.setRewriting(false);
      }
      pending.cts.dispose();
    }
  }

  private async request(
    client: LanguageClient,
    document: vscode.TextDocument,
    range: vscode.Range,
    instruction: string | undefined,
    progress: vscode.Progress<{ message?: string }>,
    token: vscode.CancellationToken,
  ): Promise<{ resolved: CodeAction; version: number }> {
    progress.report({ message: this.host.loading ? 'waiting for the model to load…' : instruction ? `“${instruction}”` : 'starting…' });
    const sub = this.host.onProgress((e) => {
      if (e.kind === 'rewrite' && e.phase !== 'end' && e.message) {
        progress.report({ message: e.message });
      } else if (e.kind === 'load' && e.phase !== 'end') {
        progress.report({ message: 'waiting for the model to load…' });
      }
    });
    try {
      const c2p = client.code2ProtocolConverter;
      const uri = c2p.asUri(document.uri);
      const version = document.version;
      const params: CodeActionParams = {
        textDocument: { uri },
        range: c2p.asRange(range),
        context: { diagnostics: [], only: [REWRITE_KIND], triggerKind: CodeActionTriggerKind.Invoked },
      };
      const actions = await untilCancelled(client.sendRequest(CodeActionRequest.type, params, token), token);
      let action = (actions ?? []).find(
        (a): a is CodeAction =>
          CodeAction.is(a) && a.kind === REWRITE_KIND && typeof a.data === 'object' && a.data !== null && typeof (a.data as { uri?: unknown }).uri === 'string',
      );
      if (!action) {
        // The server offers a command instead to clients without resolve support; it resolves
        // data it did not hand out just the same.
        action = { title: REWRITE_TITLE, kind: REWRITE_KIND, data: { uri, version, range: params.range } };
      }
      const data: Record<string, unknown> = { ...(action.data as Record<string, unknown>), instruction };
      const pinned = typeof data.version === 'number' ? data.version : version;
      const resolved = await untilCancelled(
        client.sendRequest(CodeActionResolveRequest.type, { ...action, data }, token),
        token,
      );
      return { resolved, version: pinned };
    } finally {
      sub.dispose();
    }
  }

  private async propose(
    client: LanguageClient,
    document: vscode.TextDocument,
    resolved: CodeAction,
    requestedVersion: number,
    viewColumn: vscode.ViewColumn | undefined,
    instruction: string | undefined,
  ): Promise<void> {
    const uri = client.code2ProtocolConverter.asUri(document.uri);
    const extracted = editsForDocument(resolved.edit, uri, sameUri);
    if (!extracted.ok) {
      throw new Refusal(`cannot preview the proposal: ${extracted.why}`);
    }
    if (extracted.edits.length === 0) {
      throw new Refusal('the model proposed no change', 'info');
    }
    const version = extracted.version ?? requestedVersion;
    if (document.isClosed) {
      throw new Refusal('the document was closed while the model was rewriting');
    }
    if (document.version !== version) {
      throw new Refusal(
        `the document changed while the model was rewriting (version ${version} → ${document.version}); run the rewrite again`,
      );
    }
    const before = document.getText();
    let after: string;
    try {
      after = applyTextEdits(before, extracted.edits, (p) => document.offsetAt(new vscode.Position(p.line, p.character)));
    } catch (err) {
      throw new Refusal(`cannot apply the proposal: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
    if (after === before) {
      throw new Refusal('the model proposed no change', 'info');
    }

    if (this.proposal) {
      const old = this.proposal;
      this.drop(old);
      await this.closeDiff(old);
    }
    const id = ++this.nextId;
    const proposalUri = document.uri.with({ scheme: PROPOSAL_SCHEME, query: `proposal=${id}` });
    const edit = resolved.edit as WorkspaceEdit;
    const p: Proposal = {
      id,
      documentUri: document.uri,
      proposalUri,
      version,
      edit,
      converter: client.protocol2CodeConverter,
      viewColumn,
      instruction,
      closing: false,
    };
    this.content.set(proposalUri, after);
    this.proposal = p;
    await vscode.commands.executeCommand('setContext', 'anneal.proposalOpen', true);
    const name = path.basename(document.uri.fsPath);
    const title = `${name} ↔ Anneal proposal${instruction ? ` (${instruction})` : ''}`;
    await vscode.commands.executeCommand('vscode.diff', document.uri, proposalUri, title, {
      preview: false,
      viewColumn,
    } satisfies vscode.TextDocumentShowOptions);

    const change = lineChanges(before, after);
    const summary = `line ${change.first + 1}: −${change.removed} +${change.added}`;
    void vscode.window
      .showInformationMessage(`Anneal: proposal for ${name} (${summary}). Accept it?`, 'Accept', 'Reject')
      .then((choice) => {
        if (this.proposal !== p) {
          return; // accepted, rejected or replaced meanwhile
        }
        if (choice === 'Accept') {
          void this.accept();
        } else if (choice === 'Reject') {
          void this.reject();
        }
        // Dismissed: the diff stays open with its Accept / Reject buttons.
      });
  }

  /**
   * Applies the proposal on show as one edit (one undo step), unless the document changed
   * since the request.
   */
  async accept(): Promise<boolean> {
    const p = this.proposal;
    if (!p) {
      show('info', 'there is no proposal to accept');
      return false;
    }
    this.drop(p);
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === p.documentUri.toString());
    let applied = false;
    try {
      if (!document || document.isClosed) {
        show('error', 'the document is closed; nothing was changed');
        return false;
      }
      const stale = () =>
        document.version !== p.version
          ? `the document changed since the request (version ${p.version} → ${document.version}); nothing was changed, run the rewrite again`
          : undefined;
      let why = stale();
      if (why) {
        show('warning', why);
        return false;
      }
      const edit = await p.converter.asWorkspaceEdit(p.edit);
      why = stale();
      if (why || !edit) {
        show('warning', why ?? 'the proposal has no edit');
        return false;
      }
      applied = await vscode.workspace.applyEdit(edit);
      if (!applied) {
        show('error', 'VS Code did not apply the proposal (the document may have changed); nothing was changed');
        return false;
      }
      vscode.window.setStatusBarMessage('Anneal: proposal accepted', 4000);
      return true;
    } finally {
      await this.closeDiff(p);
      if (document && !document.isClosed) {
        await vscode.window.showTextDocument(document, { viewColumn: p.viewColumn, preview: false });
      }
    }
  }

  /** Drops the proposal on show; the document is left as it is. */
  async reject(): Promise<boolean> {
    const p = this.proposal;
    if (!p) {
      show('info', 'there is no proposal to reject');
      return false;
    }
    this.drop(p);
    await this.closeDiff(p);
    vscode.window.setStatusBarMessage('Anneal: proposal rejected', 4000);
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === p.documentUri.toString());
    if (document && !document.isClosed) {
      await vscode.window.showTextDocument(document, { viewColumn: p.viewColumn, preview: false });
    }
    return true;
  }

  /** Cancels the rewrite in flight, if any. */
  cancel(quiet = false): boolean {
    const pending = this.pending;
    if (!pending) {
      if (!quiet) {
        show('info', 'no rewrite is running');
      }
      return false;
    }
    this.pending = undefined;
    pending.superseded = quiet;
    pending.cts.cancel();
    this.status.setRewriting(false);
    return true;
  }

  private drop(p: Proposal): void {
    if (this.proposal === p) {
      this.proposal = undefined;
      void vscode.commands.executeCommand('setContext', 'anneal.proposalOpen', false);
    }
  }

  private isDiffOf(tab: vscode.Tab, p: Proposal): boolean {
    return tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.toString() === p.proposalUri.toString();
  }

  private async closeDiff(p: Proposal): Promise<void> {
    p.closing = true;
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => this.isDiffOf(t, p));
    if (tabs.length > 0) {
      try {
        await vscode.window.tabGroups.close(tabs);
      } catch (err) {
        this.host.output.appendLine(`closing the proposal's diff: ${String(err)}`);
      }
    }
    this.content.delete(p.proposalUri);
  }

  dispose(): void {
    this.cancel(true);
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
