// The instruction prompt: a QuickPick that takes free text and offers the last instructions.

import * as vscode from 'vscode';

const KEY = 'anneal.recentInstructions';
const MAX_RECENT = 10;

interface Item extends vscode.QuickPickItem {
  instruction: string;
}

export class InstructionPrompt {
  constructor(private readonly state: vscode.Memento) {}

  recent(): string[] {
    const list = this.state.get<unknown>(KEY, []);
    return Array.isArray(list) ? list.filter((s): s is string => typeof s === 'string') : [];
  }

  async remember(instruction: string): Promise<void> {
    const list = [instruction, ...this.recent().filter((s) => s !== instruction)].slice(0, MAX_RECENT);
    await this.state.update(KEY, list);
  }

  /**
   * Asks for an instruction. Resolves to the text ('' for none), or undefined when the user
   * dismissed the prompt.
   */
  ask(title: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      const qp = vscode.window.createQuickPick<Item>();
      qp.title = title;
      qp.placeholder = 'Instruction for the model (type one, pick a recent one, or Enter for none)';
      qp.ignoreFocusOut = false;
      const recentItems: Item[] = this.recent().map((r) => ({ label: r, description: 'recent', instruction: r }));
      const none: Item = {
        label: 'No instruction',
        description: 'rewrite from the surrounding code alone',
        instruction: '',
      };
      const update = () => {
        const value = qp.value.trim();
        if (value === '') {
          qp.items = [none, ...recentItems];
          return;
        }
        const typed: Item = {
          label: value,
          description: recentItems.some((i) => i.instruction === value) ? 'recent' : 'new instruction',
          instruction: value,
          alwaysShow: true,
        };
        qp.items = [typed, ...recentItems.filter((i) => i.instruction !== value)];
      };
      update();
      let done = false;
      const finish = (value: string | undefined) => {
        if (done) {
          return;
        }
        done = true;
        resolve(value);
        qp.hide();
      };
      qp.onDidChangeValue(update);
      qp.onDidAccept(() => {
        const item = qp.selectedItems[0] ?? qp.activeItems[0];
        finish(item ? item.instruction : qp.value.trim());
      });
      qp.onDidHide(() => {
        finish(undefined);
        qp.dispose();
      });
      qp.show();
    });
  }
}
