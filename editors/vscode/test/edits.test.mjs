// Unit tests of the pure edit helpers (src/edits.ts, compiled to out/): `npm test`.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);
const { applyTextEdits, editsForDocument, lineChanges, offsetAtFor } = require('../out/edits.js');

const same = (a, b) => a === b;
const edit = (l1, c1, l2, c2, newText) => ({
  range: { start: { line: l1, character: c1 }, end: { line: l2, character: c2 } },
  newText,
});

test('edits of the document and their version, from documentChanges', () => {
  const ws = { documentChanges: [{ textDocument: { uri: 'file:///a.py', version: 7 }, edits: [edit(0, 0, 0, 1, 'x')] }] };
  const r = editsForDocument(ws, 'file:///a.py', same);
  assert.equal(r.ok, true);
  assert.equal(r.version, 7);
  assert.equal(r.edits.length, 1);
});

test('unversioned `changes` are accepted with a null version', () => {
  const r = editsForDocument({ changes: { 'file:///a.py': [edit(0, 0, 0, 0, 'y')] } }, 'file:///a.py', same);
  assert.equal(r.ok, true);
  assert.equal(r.version, null);
});

test('another document, a file operation, or no edit are refused', () => {
  const other = { documentChanges: [{ textDocument: { uri: 'file:///b.py', version: 1 }, edits: [] }] };
  assert.match(editsForDocument(other, 'file:///a.py', same).why, /another document/);
  const create = { documentChanges: [{ kind: 'create', uri: 'file:///c.py' }] };
  assert.match(editsForDocument(create, 'file:///a.py', same).why, /creates, renames or deletes/);
  assert.equal(editsForDocument(undefined, 'file:///a.py', same).ok, false);
});

test('edits apply against the original text, in any order, inserts keeping their order', () => {
  const text = 'def f():\n    return 1\n';
  const at = offsetAtFor(text);
  const out = applyTextEdits(
    text,
    [edit(1, 11, 1, 12, '2'), edit(0, 4, 0, 5, 'g'), edit(0, 0, 0, 0, '# a\n'), edit(0, 0, 0, 0, '# b\n')],
    at,
  );
  assert.equal(out, '# a\n# b\ndef g():\n    return 2\n');
});

test('overlapping edits are refused', () => {
  const text = 'abcdef';
  assert.throws(() => applyTextEdits(text, [edit(0, 0, 0, 3, 'x'), edit(0, 2, 0, 4, 'y')], offsetAtFor(text)), /overlap/);
});

test('columns are UTF-16 code units and clamp to the line; CRLF lines end before \\r', () => {
  const text = 'a🧮b\r\nxy';
  const at = offsetAtFor(text);
  assert.equal(at({ line: 0, character: 3 }), 3); // after the surrogate pair
  assert.equal(at({ line: 0, character: 99 }), 4); // before \r
  assert.equal(at({ line: 1, character: 1 }), 7);
  assert.equal(at({ line: 5, character: 0 }), text.length);
  assert.equal(applyTextEdits(text, [edit(0, 1, 0, 3, 'Σ')], at), 'aΣb\r\nxy');
});

test('line summary of a proposal', () => {
  assert.deepEqual(lineChanges('a\nb\nc\nd', 'a\nB\nB2\nd'), { first: 1, removed: 2, added: 2 });
  assert.deepEqual(lineChanges('a\nb', 'a\nb\nc'), { first: 2, removed: 0, added: 1 });
});
