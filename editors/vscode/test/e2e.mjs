// End-to-end test of the Anneal VS Code extension in a real VS Code (code-server) driven by
// headless Chromium with playwright-core. test/run.sh sets everything up; this script expects:
//
//   CODE_SERVER_URL  e.g. http://127.0.0.1:8123 (code-server with the extension installed and
//                    the anneal.* settings pointing at the real binary and a tiny checkpoint)
//   WORKSPACE        the folder code-server opened; it holds sample.py
//   OUT_DIR          where screenshots (PNG) and the browser log go
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   E2E_TIMEOUT_MS   bound on every wait (default 60000)
//
// Cases (sequential, on the same file):
//   1. accept: select lines 5–7, "Anneal: Rewrite Selection…", type an instruction, diff shown
//      (screenshot), Accept in the notification; one Ctrl+Z restores the whole text (one undo
//      step), redo, Ctrl+S; the file on disk changed, and only inside the selected lines.
//   2. reject: the same with the recent instruction picked from the list; Reject with the diff
//      editor's title button; nothing changes in the editor or on disk.
//   3. stale: "Anneal: Repair Selection", then type in the document while the diff is shown;
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
const FILE = 'sample.py';

if (!URL_BASE || !WORKSPACE) {
  console.error('vscode: CODE_SERVER_URL and WORKSPACE must be set (test/run.sh sets them)');
  console.log('vscode: 0 passed, 1 failed');
  process.exit(2);
}
fs.mkdirSync(OUT_DIR, { recursive: true });
const filePath = path.join(WORKSPACE, FILE);
const original = fs.readFileSync(filePath, 'utf8');

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

const readDisk = () => fs.readFileSync(filePath, 'utf8');

/** Lines before and after the 1-based inclusive line range [first, last] of `text`. */
function outside(text, first, last) {
  const lines = text.split('\n');
  return { before: lines.slice(0, first - 1).join('\n') + '\n', after: '\n' + lines.slice(last).join('\n') };
}

async function screenshot(page, name) {
  const file = path.join(OUT_DIR, name);
  await page.screenshot({ path: file });
  log(`  screenshot: ${file}`);
}

/** The text of the notification toasts on screen (for failure messages). */
async function toasts(page) {
  return (await page.locator('.notification-toast').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

const quickInput = (page) => page.locator('.quick-input-widget');
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
      await page.keyboard.press('Escape');
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

/**
 * Opens the workspace file with Quick Open (Ctrl+P) — its own editor, not the proposal's diff,
 * which Quick Open lists too — and waits for that editor to have focus.
 */
async function openFile(page, name) {
  await quickPick(page, 'Control+P', name, (p) => quickRow(p, name).filter({ hasNotText: 'Anneal' }));
  await page
    .locator('.tabs-container .tab.active', { hasText: name })
    .filter({ hasNotText: 'Anneal' })
    .first()
    .waitFor({ timeout: TIMEOUT });
  await page.locator('.editor-instance .monaco-editor.focused').first().waitFor({ timeout: TIMEOUT });
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

const diffEditor = (page) => page.locator('.monaco-diff-editor');
const proposalTab = (page) => page.locator('.tabs-container .tab', { hasText: 'Anneal proposal' });
const dirtyTab = (page) => page.locator('.tabs-container .tab.dirty', { hasText: FILE });

async function waitForProposal(page) {
  await proposalTab(page).first().waitFor({ state: 'visible', timeout: TIMEOUT });
  await diffEditor(page).first().waitFor({ state: 'visible', timeout: TIMEOUT });
  // Let the diff computation paint.
  await sleep(500);
}

async function waitForNoProposal(page) {
  await poll('the proposal diff to close', async () => (await proposalTab(page).count()) === 0);
}

async function waitForIdle(page) {
  await page
    .locator('.statusbar-item', { hasText: /Anneal: .* · idle/ })
    .first()
    .waitFor({ state: 'visible', timeout: TIMEOUT });
}

async function expectDiskStays(expected, ms = 2000) {
  await sleep(ms);
  const now = readDisk();
  if (now !== expected) {
    throw new Error(`the file on disk changed:\n${now}`);
  }
}

// Cases ------------------------------------------------------------------------------------------

const INSTRUCTION = 'sum the values with a loop';
const FIRST = 5;
const LAST = 7;

async function caseAccept(page) {
  await openFile(page, FILE);
  await waitForIdle(page);
  await selectLines(page, FIRST, LAST);
  await runCommand(page, 'Anneal: Rewrite Selection');
  await quickInputBox(page).and(page.locator('[placeholder^="Instruction for the model"]')).waitFor({ timeout: TIMEOUT });
  await page.keyboard.type(INSTRUCTION, { delay: 10 });
  await quickRow(page, INSTRUCTION).first().waitFor({ timeout: TIMEOUT });
  await page.keyboard.press('Enter');
  await waitForProposal(page);
  await screenshot(page, 'vscode-diff.png');

  const toast = page.locator('.notification-toast', { hasText: 'Accept it?' }).first();
  await toast.waitFor({ state: 'visible', timeout: TIMEOUT });
  await toast.getByRole('button', { name: 'Accept', exact: true }).click();
  await waitForNoProposal(page);
  await dirtyTab(page).first().waitFor({ timeout: TIMEOUT });
  await page.locator('.editor-instance .monaco-editor.focused').first().waitFor({ timeout: TIMEOUT });

  // One undo step takes the whole proposal back: the document is clean again.
  await page.keyboard.press('Control+Z');
  await poll('one Ctrl+Z to undo the whole proposal (the tab is clean again)', async () => (await dirtyTab(page).count()) === 0, 10000);
  await page.keyboard.press('Control+Shift+Z');
  await dirtyTab(page).first().waitFor({ timeout: 10000 });

  await page.keyboard.press('Control+S');
  const saved = await poll('the accepted proposal on disk', async () => {
    const now = readDisk();
    return now !== original ? now : undefined;
  });
  await poll('the tab to be saved', async () => (await dirtyTab(page).count()) === 0, 10000);
  const want = outside(original, FIRST, LAST);
  if (!saved.startsWith(want.before) || !saved.endsWith(want.after)) {
    throw new Error(`the file changed outside lines ${FIRST}–${LAST}:\n${saved}`);
  }
  await screenshot(page, 'vscode-accepted.png');
  return saved;
}

async function caseReject(page, before) {
  await openFile(page, FILE);
  await selectLines(page, FIRST, LAST);
  await runCommand(page, 'Anneal: Rewrite Selection');
  await quickInputBox(page).and(page.locator('[placeholder^="Instruction for the model"]')).waitFor({ timeout: TIMEOUT });
  // The last instruction is offered, below "No instruction".
  const recent = quickRow(page, INSTRUCTION).first();
  await recent.waitFor({ timeout: TIMEOUT });
  if (!(await recent.innerText()).includes('recent')) {
    throw new Error(`the last instruction is not marked recent: ${await recent.innerText()}`);
  }
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await waitForProposal(page);
  await screenshot(page, 'vscode-reject-diff.png');

  const reject = page.locator('.editor-actions .action-label[aria-label*="Reject Proposal"]').first();
  try {
    await reject.waitFor({ state: 'visible', timeout: 10000 });
  } catch {
    const labels = await page.locator('.editor-actions .action-label').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    throw new Error(`no "Reject Proposal" button in the editor title; its actions: ${JSON.stringify(labels)}`);
  }
  await reject.click();
  await waitForNoProposal(page);
  if ((await dirtyTab(page).count()) !== 0) {
    throw new Error('rejecting left the document modified');
  }
  await page.keyboard.press('Control+S');
  await expectDiskStays(before);
}

async function caseStale(page, before) {
  await openFile(page, FILE);
  await selectLines(page, FIRST, LAST);
  await runCommand(page, 'Anneal: Repair Selection');
  await waitForProposal(page);

  // Back to the file's own editor, and change it while the proposal is on show.
  await openFile(page, FILE);
  await page.keyboard.press('Control+Home');
  await page.keyboard.type('#');
  await dirtyTab(page).first().waitFor({ timeout: 10000 });

  await runCommand(page, 'Anneal: Accept Proposal');
  await page
    .locator('.notification-toast', { hasText: 'changed since the request' })
    .first()
    .waitFor({ state: 'visible', timeout: TIMEOUT });
  await screenshot(page, 'vscode-stale.png');
  await waitForNoProposal(page);

  // Only the typed character is in the document: undoing it leaves a clean document.
  await openFile(page, FILE);
  await page.keyboard.press('Control+Z');
  await poll('the document to be clean after undoing the typed character', async () => (await dirtyTab(page).count()) === 0, 10000);
  await page.keyboard.press('Control+S');
  await expectDiskStays(before);
}

// Main -------------------------------------------------------------------------------------------

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
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => browserLog.write(`[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => browserLog.write(`[pageerror] ${e.message}\n`));

  await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(WORKSPACE)}`, { waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 2 * TIMEOUT });
  // The workbench restores its layout and connects to the extension host after it appears.
  await page.locator('.statusbar').waitFor({ state: 'visible', timeout: TIMEOUT });
  await sleep(2000);

  let current = original;
  const cases = [
    ['accept', async () => (current = await caseAccept(page))],
    ['reject', () => caseReject(page, current)],
    ['stale', () => caseStale(page, current)],
  ];
  for (const [name, run] of cases) {
    const started = Date.now();
    try {
      await run();
      passed++;
      log(`ok   ${name} (${Date.now() - started} ms)`);
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
log(`vscode: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
