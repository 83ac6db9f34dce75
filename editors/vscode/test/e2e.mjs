// End-to-end test of the Anneal VS Code extension in a real VS Code (code-server) driven by
// headless Chromium with playwright-core. test/run.sh sets everything up; this script expects:
//
//   CODE_SERVER_URL  e.g. http://127.0.0.1:8123 (code-server with the extension installed and
//                    the anneal.* settings pointing at the real binary, the default model in
//                    mask mode: edit mode often proposes no change, and then there is no diff)
//   WORKSPACE        the folder code-server opened; it holds sample.rs and sample.py
//   OUT_DIR          where screenshots (PNG) and the browser log go
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   E2E_TIMEOUT_MS   bound on every wait (default 60000)
//
// Cases, in this order (each selects the lines of the loop in sample.rs or sample.py):
//   reject-rust: "Anneal: Rewrite Selection…", "No instruction" in the input box, the diff
//      preview opens with an Accept/Reject notification; Reject in the notification; the document
//      is clean and unchanged, and so is the file on disk after Ctrl+S.
//   accept-rust, accept-python: the same with an instruction typed in the input box (the diff's
//      title names it; screenshot of the preview); Accept; the document is the diff's right-hand
//      side, one Ctrl+Z restores the whole text (one undo step), redo, and the disk is untouched
//      until Ctrl+S; after it the file on disk is exactly the document's text, changed only
//      inside the selected lines.
//   reject-python: the recent instruction picked from the list; Reject with the diff editor's
//      title button; the same checks as reject-rust.
//   stale: "Anneal: Repair Selection", then type in the document while the diff is shown;
//      "Anneal: Accept Proposal" is refused and nothing of the proposal is applied.
// The last line is `vscode: N passed, M failed`; the exit status is non-zero on any failure.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const URL_BASE = process.env.CODE_SERVER_URL;
const WORKSPACE = process.env.WORKSPACE;
const OUT_DIR = process.env.OUT_DIR || path.join(process.cwd(), 'e2e-out');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 60000);

if (!URL_BASE || !WORKSPACE) {
  console.error('vscode: CODE_SERVER_URL and WORKSPACE must be set (test/run.sh sets them)');
  console.log('vscode: 0 passed, 1 failed');
  process.exit(2);
}
fs.mkdirSync(OUT_DIR, { recursive: true });

/** The fixtures, and the whole lines (1-based, inclusive) of the loop each case rewrites. */
const RUST = { name: 'sample.rs', first: 6, last: 8 };
const PYTHON = { name: 'sample.py', first: 5, last: 7 };
for (const f of [RUST, PYTHON]) {
  f.path = path.join(WORKSPACE, f.name);
  f.original = fs.readFileSync(f.path, 'utf8');
}

const browserLog = fs.createWriteStream(path.join(OUT_DIR, 'browser-console.log'));
const log = (...args) => console.log(...args);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Helpers ----------------------------------------------------------------------------------------

/** Polls `fn` until it returns a truthy value; throws `what` after `timeout` ms. */
async function poll(what, fn, timeout = TIMEOUT, every = 250) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) {
        return last;
      }
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
}

const readDisk = (f) => fs.readFileSync(f.path, 'utf8');

/** Lines before and after the 1-based inclusive line range [first, last] of `text`. */
function outside(text, first, last) {
  const lines = text.split('\n');
  return { before: lines.slice(0, first - 1).join('\n') + '\n', after: '\n' + lines.slice(last).join('\n') };
}

async function screenshot(page, name) {
  const file = path.join(OUT_DIR, name);
  // The pointer stays where the last click was and shows that button's tooltip otherwise.
  await page.mouse.move(150, 600);
  await sleep(300);
  await page.screenshot({ path: file });
  log(`  screenshot: ${file}`);
}

/** The text of the notification toasts on screen (for failure messages). */
async function toasts(page) {
  return (await page.locator('.notification-toast').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/** Closes every notification, so that old toasts neither pile up nor match the next case. */
async function clearNotifications(page) {
  if ((await page.locator('.notification-toast').count()) > 0) {
    await runCommand(page, 'Notifications: Clear All Notifications');
    await poll('the notifications to close', async () => (await page.locator('.notification-toast').count()) === 0, 10000);
  }
}

const quickInputBox = (page) => page.locator('.quick-input-widget .quick-input-box input');
const quickRow = (page, text) => page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text });

/**
 * Opens a quick input with `open` (a key), types `text`, waits for the first row that `row`
 * picks, and accepts it (Enter when it is the active row, a click otherwise). The workbench
 * sometimes closes a quick input opened right after a layout change, so this retries.
 */
async function quickPick(page, open, text, row) {
  let lastError;
  for (let attempt = 1; attempt <= 4; attempt++) {
    try {
      // Escape closes a quick input left open, but in an editor it would also drop the
      // selection that the command is about: press it only when a quick input is on show and
      // no editor has focus (one closing as we look hands focus back to the editor, and the
      // Escape then emptied the selection: the rewrite went to the cursor's line).
      if ((await page.locator('.quick-input-widget').isVisible()) && (await focusedEditor(page).count()) === 0) {
        await page.keyboard.press('Escape');
      }
      await page.keyboard.press(open);
      await quickInputBox(page).waitFor({ state: 'visible', timeout: 5000 });
      await page.keyboard.type(text, { delay: 10 });
      const target = row(page).first();
      await target.waitFor({ state: 'visible', timeout: 10000 });
      // Let the list settle (results arrive in batches), then accept the target.
      await sleep(300);
      const cls = (await target.getAttribute('class')) || '';
      if (cls.includes('focused')) {
        await page.keyboard.press('Enter');
      } else {
        await target.click();
      }
      return;
    } catch (e) {
      lastError = e;
      log(`  (quick input "${text}" attempt ${attempt} failed: ${e.message.split('\n')[0]})`);
    }
  }
  throw lastError;
}

/** Runs a command from the command palette by its title. */
async function runCommand(page, title) {
  await quickPick(page, 'F1', title, (p) => quickRow(p, title));
}

const activeTab = (page, f) => page.locator('.tabs-container .tab.active', { hasText: f.name }).filter({ hasNotText: 'Anneal' });
const focusedEditor = (page) => page.locator('.editor-instance .monaco-editor.focused');

/**
 * Opens a workspace file with Quick Open (Ctrl+P) — its own editor, not the proposal's diff,
 * which Quick Open lists too — and waits for that editor to have focus.
 */
async function openFile(page, f) {
  await quickPick(page, 'Control+P', f.name, (p) => quickRow(p, f.name).filter({ hasNotText: 'Anneal' }));
  await activeTab(page, f).first().waitFor({ timeout: TIMEOUT });
  await focusedEditor(page).first().waitFor({ timeout: TIMEOUT });
}

/** Selects whole lines first..last (1-based) in the focused editor with the keyboard. */
async function selectLines(page, first, last) {
  await page.keyboard.press('Control+Home');
  for (let i = 1; i < first; i++) {
    await page.keyboard.press('ArrowDown');
  }
  for (let i = first; i <= last; i++) {
    await page.keyboard.press('Shift+ArrowDown');
  }
  // The status bar shows "Ln <last+1>, Col 1 (N selected)".
  await poll('the selection in the status bar', async () => {
    const texts = await page.locator('.statusbar-item').allInnerTexts();
    return texts.some((t) => t.includes(`Ln ${last + 1}, Col 1`) && t.includes('selected'));
  });
}

/**
 * The whole text of the focused editor, through the clipboard (Ctrl+A, Ctrl+C): the DOM only
 * holds the lines on screen. The cursor is left at the start, with no selection.
 */
async function editorText(page) {
  const SENTINEL = '\u0000anneal-e2e-sentinel';
  await page.evaluate((s) => navigator.clipboard.writeText(s), SENTINEL);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Control+C');
  const text = await poll(
    'the editor text on the clipboard',
    async () => {
      const t = await page.evaluate(() => navigator.clipboard.readText());
      return t !== SENTINEL ? t : undefined;
    },
    10000,
  );
  await page.keyboard.press('Control+Home');
  return text;
}

const diffEditor = (page) => page.locator('.monaco-diff-editor');
const proposalTab = (page) => page.locator('.tabs-container .tab', { hasText: 'Anneal proposal' });
const dirtyTab = (page, f) => page.locator('.tabs-container .tab.dirty', { hasText: f.name }).filter({ hasNotText: 'Anneal' });
const proposalToast = (page) => page.locator('.notification-toast', { hasText: 'Accept it?' }).first();

/** Waits for the diff preview and its notification; on "no change" or a refusal, says so. */
async function waitForProposal(page) {
  const end = Date.now() + 3 * TIMEOUT; // the model runs first
  for (;;) {
    if ((await proposalTab(page).count()) > 0) {
      break;
    }
    const refusal = page.locator('.notification-toast', { hasText: /proposed no change|rewrite failed|cannot preview|changed while/ });
    if ((await refusal.count()) > 0) {
      throw new Error(`no diff: ${(await refusal.first().innerText()).replace(/\s+/g, ' ')}`);
    }
    if (Date.now() > end) {
      throw new Error(`no proposal diff after ${3 * TIMEOUT} ms; toasts: ${JSON.stringify(await toasts(page))}`);
    }
    await sleep(250);
  }
  await diffEditor(page).first().waitFor({ state: 'visible', timeout: TIMEOUT });
  await proposalToast(page).waitFor({ state: 'visible', timeout: TIMEOUT });
  // Let the diff computation paint.
  await sleep(1000);
}

async function waitForNoProposal(page) {
  await poll('the proposal diff to close', async () => (await proposalTab(page).count()) === 0);
}

async function waitForIdle(page) {
  await page
    .locator('.statusbar-item', { hasText: /Anneal: .* · idle/ })
    .first()
    .waitFor({ state: 'visible', timeout: 2 * TIMEOUT });
}

/** The proposed text: the right-hand side of the diff preview. */
async function proposedText(page) {
  await diffEditor(page).first().locator('.editor.modified .view-lines').first().click();
  return editorText(page);
}

async function expectDiskStays(f, expected, ms = 2000) {
  await sleep(ms);
  const now = readDisk(f);
  if (now !== expected) {
    throw new Error(`the file on disk changed:\n${now}`);
  }
}

/** Opens `f`, selects its loop, and asks for a rewrite with the instruction that `pick` gives. */
async function requestRewrite(page, f, pick) {
  await clearNotifications(page);
  await openFile(page, f);
  await waitForIdle(page);
  await selectLines(page, f.first, f.last);
  await runCommand(page, 'Anneal: Rewrite Selection');
  await quickInputBox(page).and(page.locator('[placeholder^="Instruction for the model"]')).waitFor({ timeout: TIMEOUT });
  await pick();
  await waitForProposal(page);
}

/** After a reject: the document is clean and as it was, and Ctrl+S leaves the file alone. */
async function expectUnchanged(page, f, before) {
  await waitForNoProposal(page);
  await activeTab(page, f).first().waitFor({ timeout: TIMEOUT });
  if ((await dirtyTab(page, f).count()) !== 0) {
    throw new Error('rejecting left the document modified');
  }
  await focusedEditor(page).first().waitFor({ timeout: TIMEOUT });
  const text = await editorText(page);
  if (text !== before) {
    throw new Error(`rejecting changed the document:\n${text}`);
  }
  await page.keyboard.press('Control+S');
  await expectDiskStays(f, before);
}

// Cases ------------------------------------------------------------------------------------------

async function caseAccept(page, f, instruction, shot) {
  const before = readDisk(f);
  await requestRewrite(page, f, async () => {
    await page.keyboard.type(instruction, { delay: 10 });
    await quickRow(page, instruction).first().waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('Enter');
  });
  const title = await proposalTab(page).first().innerText();
  if (!title.includes(instruction)) {
    throw new Error(`the diff's title does not name the instruction: ${title}`);
  }
  await screenshot(page, shot);
  const proposed = await proposedText(page);
  if (proposed === before) {
    throw new Error('the diff shows no change');
  }

  await proposalToast(page).getByRole('button', { name: 'Accept', exact: true }).click();
  await waitForNoProposal(page);
  await dirtyTab(page, f).first().waitFor({ timeout: TIMEOUT });
  await focusedEditor(page).first().waitFor({ timeout: TIMEOUT });
  const accepted = await editorText(page);
  if (accepted !== proposed) {
    throw new Error(`the document after Accept is not the proposal:\n--- document\n${accepted}\n--- proposal\n${proposed}`);
  }
  if (readDisk(f) !== before) {
    throw new Error('the file on disk changed before saving');
  }

  // One undo step takes the whole proposal back: the document is clean again.
  await page.keyboard.press('Control+Z');
  await poll('one Ctrl+Z to undo the whole proposal (the tab is clean again)', async () => (await dirtyTab(page, f).count()) === 0, 10000);
  await page.keyboard.press('Control+Shift+Z');
  await dirtyTab(page, f).first().waitFor({ timeout: 10000 });

  await page.keyboard.press('Control+S');
  await poll('the tab to be saved', async () => (await dirtyTab(page, f).count()) === 0, 10000);
  const saved = await poll('the accepted proposal on disk', async () => {
    const now = readDisk(f);
    return now !== before ? now : undefined;
  });
  const text = await editorText(page);
  if (saved !== text) {
    throw new Error(`the file on disk is not the document's text:\n--- disk\n${saved}\n--- document\n${text}`);
  }
  if (text !== accepted) {
    throw new Error(`undo and redo did not give back the accepted text:\n${text}`);
  }
  const want = outside(before, f.first, f.last);
  if (!saved.startsWith(want.before) || !saved.endsWith(want.after)) {
    throw new Error(`the file changed outside lines ${f.first}–${f.last}:\n${saved}`);
  }
  log(`  ${f.name} lines ${f.first}–${f.last} now:\n${saved.slice(want.before.length, saved.length - want.after.length).replace(/^/gm, '    | ')}`);
}

async function caseRejectFromTitle(page, f, recentInstruction) {
  const before = readDisk(f);
  await requestRewrite(page, f, async () => {
    // The last instruction is offered, below "No instruction".
    const recent = quickRow(page, recentInstruction).first();
    await recent.waitFor({ timeout: TIMEOUT });
    if (!(await recent.innerText()).includes('recent')) {
      throw new Error(`the last instruction is not marked recent: ${await recent.innerText()}`);
    }
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
  });
  const title = await proposalTab(page).first().innerText();
  if (!title.includes(recentInstruction)) {
    throw new Error(`the diff's title does not name the recent instruction: ${title}`);
  }
  const reject = page.locator('.editor-actions .action-label[aria-label*="Reject Proposal"]').first();
  try {
    await reject.waitFor({ state: 'visible', timeout: 10000 });
  } catch {
    const labels = await page.locator('.editor-actions .action-label').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    throw new Error(`no "Reject Proposal" button in the editor title; its actions: ${JSON.stringify(labels)}`);
  }
  await reject.click();
  await expectUnchanged(page, f, before);
}

async function caseRejectFromNotification(page, f) {
  const before = readDisk(f);
  await requestRewrite(page, f, async () => {
    await quickRow(page, 'No instruction').first().waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('Enter');
  });
  await proposalToast(page).getByRole('button', { name: 'Reject', exact: true }).click();
  await expectUnchanged(page, f, before);
}

async function caseStale(page, f) {
  const before = readDisk(f);
  await clearNotifications(page);
  await openFile(page, f);
  await waitForIdle(page);
  await selectLines(page, f.first, f.last);
  await runCommand(page, 'Anneal: Repair Selection');
  await waitForProposal(page);

  // Back to the file's own editor, and change it while the proposal is on show.
  await openFile(page, f);
  await page.keyboard.press('Control+Home');
  await page.keyboard.type('#');
  await dirtyTab(page, f).first().waitFor({ timeout: 10000 });

  await runCommand(page, 'Anneal: Accept Proposal');
  await page
    .locator('.notification-toast', { hasText: 'changed since the request' })
    .first()
    .waitFor({ state: 'visible', timeout: TIMEOUT });
  await screenshot(page, 'vscode-stale.png');
  await waitForNoProposal(page);

  // Only the typed character is in the document: undoing it leaves the text as it was.
  await openFile(page, f);
  await page.keyboard.press('Control+Z');
  await poll('the document to be clean after undoing the typed character', async () => (await dirtyTab(page, f).count()) === 0, 10000);
  const text = await editorText(page);
  if (text !== before) {
    throw new Error(`the refused proposal changed the document:\n${text}`);
  }
  await page.keyboard.press('Control+S');
  await expectDiskStays(f, before);
}

// Main -------------------------------------------------------------------------------------------

const started = Date.now();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // playwright-core adds --headless, --no-sandbox and a fresh temporary profile itself.
  args: [
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let passed = 0;
let failed = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  // editorText reads the editor through the clipboard.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: URL_BASE });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => browserLog.write(`[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => browserLog.write(`[pageerror] ${e.message}\n`));

  await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(WORKSPACE)}`, { waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 2 * TIMEOUT });
  // The workbench restores its layout and connects to the extension host after it appears.
  await page.locator('.statusbar').waitFor({ state: 'visible', timeout: TIMEOUT });
  await sleep(2000);
  log(`  workbench up after ${Date.now() - started} ms`);

  const RUST_INSTRUCTION = 'count the words with fold';
  const PYTHON_INSTRUCTION = 'sum the values with a loop';
  const cases = [
    // Rejects and the stale case come before the accept of their file: each works on the
    // fixture as written.
    ['reject-rust', () => caseRejectFromNotification(page, RUST)],
    ['accept-rust', () => caseAccept(page, RUST, RUST_INSTRUCTION, 'vscode-diff-rust.png')],
    ['reject-python', () => caseRejectFromTitle(page, PYTHON, RUST_INSTRUCTION)],
    ['stale', () => caseStale(page, PYTHON)],
    ['accept-python', () => caseAccept(page, PYTHON, PYTHON_INSTRUCTION, 'vscode-diff-python.png')],
  ];
  for (const [name, run] of cases) {
    const t0 = Date.now();
    try {
      await run();
      passed++;
      log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      log(`FAIL ${name}: ${e.stack || e}`);
      log(`  toasts: ${JSON.stringify(await toasts(page).catch(() => []))}`);
      await screenshot(page, `vscode-fail-${name}.png`).catch(() => {});
      // Leave the workbench usable for the next case.
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Escape').catch(() => {});
      }
      if ((await proposalTab(page).count().catch(() => 0)) > 0) {
        await runCommand(page, 'Anneal: Reject Proposal').catch(() => {});
      }
    }
  }
  await screenshot(page, 'vscode-final.png').catch(() => {});
} catch (e) {
  failed++;
  log(`FAIL set-up: ${e.stack || e}`);
} finally {
  await browser.close().catch(() => {});
  browserLog.end();
}
log(`  browser session: ${Date.now() - started} ms`);
log(`vscode: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
