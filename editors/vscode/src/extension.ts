// Anneal for VS Code: starts `anneal serve` and turns its "Anneal: Rewrite selection" code
// action into a rewrite previewed as a diff that the user accepts or rejects.

import * as vscode from 'vscode';

import { InstructionPrompt } from './instructions';
import { PROPOSAL_SCHEME, ProposalContent, Rewriter } from './rewrite';
import { ServerHost } from './server';
import { StatusItem } from './status';

let host: ServerHost | undefined;

/** The optional argument of the rewrite commands, e.g. from a keybinding's `args`. */
function instructionArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    return arg;
  }
  if (typeof arg === 'object' && arg !== null && typeof (arg as { instruction?: unknown }).instruction === 'string') {
    return (arg as { instruction: string }).instruction;
  }
  return undefined;
}

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Anneal');
  host = new ServerHost(output);
  const status = new StatusItem(host);
  const content = new ProposalContent();
  const rewriter = new Rewriter(host, status, new InstructionPrompt(context.globalState), content);
  void vscode.commands.executeCommand('setContext', 'anneal.proposalOpen', false);
  void vscode.commands.executeCommand('setContext', 'anneal.busy', false);

  context.subscriptions.push(
    output,
    status,
    rewriter,
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, content),
    vscode.commands.registerCommand('anneal.rewriteSelection', (arg?: unknown) =>
      rewriter.rewrite({ ask: true, instruction: instructionArg(arg) }),
    ),
    vscode.commands.registerCommand('anneal.repairSelection', () => rewriter.rewrite({ ask: false })),
    vscode.commands.registerCommand('anneal.acceptProposal', () => rewriter.accept()),
    vscode.commands.registerCommand('anneal.rejectProposal', () => rewriter.reject()),
    vscode.commands.registerCommand('anneal.cancelRewrite', () => rewriter.cancel()),
    vscode.commands.registerCommand('anneal.restartServer', () => host?.restart()),
    vscode.commands.registerCommand('anneal.showOutput', () => output.show(true)),
    // A fill is an inline suggestion the server computes when asked for one explicitly.
    vscode.commands.registerCommand('anneal.fill', () => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger')),
  );

  // Activation came from opening a Rust or Python file (or from a command): start right away so
  // the model loads while the user reads.
  void host.start();
}

export async function deactivate(): Promise<void> {
  await host?.dispose();
  host = undefined;
}
