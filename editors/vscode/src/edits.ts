// Pure helpers for the server's WorkspaceEdit: which text edits belong to the document, the
// version they are pinned to, and the text they produce. No `vscode` import, so that
// test/edits.test.mjs can run them under plain Node.

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspTextEdit {
  range: LspRange;
  newText: string;
}

export type EditsForDocument =
  | { ok: true; edits: LspTextEdit[]; version: number | null }
  | { ok: false; why: string };

/**
 * The text edits of `edit` (from `documentChanges` or `changes`) for the document `uri`, and the
 * version they are pinned to (null when unversioned). An edit that creates, renames or deletes
 * files, or touches another document, cannot be previewed as one diff and is refused.
 */
export function editsForDocument(edit: unknown, uri: string, sameUri: (a: string, b: string) => boolean): EditsForDocument {
  if (!edit || typeof edit !== 'object') {
    return { ok: false, why: 'the server proposed no edit' };
  }
  const e = edit as { documentChanges?: unknown[]; changes?: Record<string, LspTextEdit[]> };
  const edits: LspTextEdit[] = [];
  let version: number | null = null;
  for (const change of e.documentChanges ?? []) {
    const c = change as { kind?: string; textDocument?: { uri: string; version?: number | null }; edits?: LspTextEdit[] };
    if (c.kind !== undefined) {
      return { ok: false, why: 'the edit creates, renames or deletes files' };
    }
    if (!c.textDocument || !sameUri(c.textDocument.uri, uri)) {
      return { ok: false, why: `the edit touches another document: ${c.textDocument?.uri}` };
    }
    edits.push(...(c.edits ?? []));
    if (typeof c.textDocument.version === 'number') {
      version = c.textDocument.version;
    }
  }
  for (const [changeUri, list] of Object.entries(e.changes ?? {})) {
    if (!sameUri(changeUri, uri)) {
      return { ok: false, why: `the edit touches another document: ${changeUri}` };
    }
    edits.push(...list);
  }
  return { ok: true, edits, version };
}

/**
 * `text` with `edits` applied, as an LSP client applies them: ranges are in the original text,
 * must not overlap, and inserts at the same position keep their order. `offsetAt` maps an LSP
 * position to an offset in `text` (VS Code's `TextDocument.offsetAt` in the extension).
 */
export function applyTextEdits(text: string, edits: LspTextEdit[], offsetAt: (p: LspPosition) => number): string {
  const spans = edits
    .map((e, index) => ({ start: offsetAt(e.range.start), end: offsetAt(e.range.end), text: e.newText, index }))
    .sort((a, b) => a.start - b.start || a.end - b.end || a.index - b.index);
  let out = '';
  let cursor = 0;
  for (const s of spans) {
    if (s.end < s.start) {
      throw new Error(`an edit ends before it starts (offsets ${s.start}–${s.end})`);
    }
    if (s.start < cursor) {
      throw new Error(`edits overlap at offset ${s.start}`);
    }
    out += text.slice(cursor, s.start) + s.text;
    cursor = s.end;
  }
  return out + text.slice(cursor);
}

/** `offsetAt` for a plain string, with LSP's UTF-16 columns (what VS Code's documents use). */
export function offsetAtFor(text: string): (p: LspPosition) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\n') {
      starts.push(i + 1);
    }
  }
  return (p) => {
    if (p.line >= starts.length) {
      return text.length;
    }
    const start = starts[p.line];
    let end = p.line + 1 < starts.length ? starts[p.line + 1] - 1 : text.length;
    if (end > start && text[end - 1] === '\r') {
      end -= 1;
    }
    return Math.min(start + Math.max(0, p.character), end);
  };
}

/** How many lines a proposal removes and adds, and the first changed line (0-based). */
export function lineChanges(before: string, after: string): { first: number; removed: number; added: number } {
  const a = before.split('\n');
  const b = after.split('\n');
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) {
    prefix++;
  }
  let suffix = 0;
  while (
    suffix < a.length - prefix &&
    suffix < b.length - prefix &&
    a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
  ) {
    suffix++;
  }
  return { first: prefix, removed: a.length - prefix - suffix, added: b.length - prefix - suffix };
}
