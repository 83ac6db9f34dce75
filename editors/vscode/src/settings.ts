// The server's settings from the `anneal.*` configuration: only what the user set goes to the
// server, so the server's own defaults hold for everything else.

import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';

export const SECTION = 'anneal';

/** Server settings (camelCase, as `anneal serve` reads them) and their defaults on the server. */
const SERVER_DEFAULTS = {
  model: null as string | null,
  device: 'cpu',
  modelWaitSeconds: 120,
  dtype: 'auto',
  diagnostics: true,
  edit: {} as Record<string, unknown>,
  fill: {} as Record<string, unknown>,
  disabledLanguages: [] as string[],
  presets: ['Add type annotations', 'Add docstrings', 'Simplify'],
};
type ServerKey = keyof typeof SERVER_DEFAULTS;
const SERVER_KEYS = Object.keys(SERVER_DEFAULTS) as ServerKey[];
/** The `anneal.*` settings that go to the server. */
export const SERVER_SETTINGS: readonly string[] = SERVER_KEYS;

/** Settings that a workspace may not set while it is not trusted (see package.json). */
const RESTRICTED = new Set(['serverPath', 'model']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = isPlainObject(out[k]) && isPlainObject(v) ? deepMerge(out[k], v) : v;
  }
  return out;
}

/**
 * The value the user set for `anneal.<key>` (user, workspace or folder settings, the most
 * specific winning; objects merged key by key), or undefined when only the default applies.
 */
export function userValue<T>(key: string, scope?: vscode.ConfigurationScope): T | undefined {
  const inspected = vscode.workspace.getConfiguration(SECTION, scope).inspect<T>(key);
  if (!inspected) {
    return undefined;
  }
  const layers: unknown[] = [inspected.globalValue];
  if (vscode.workspace.isTrusted || !RESTRICTED.has(key)) {
    layers.push(inspected.workspaceValue, inspected.workspaceFolderValue);
  }
  let value: unknown = undefined;
  for (const layer of layers) {
    if (layer === undefined) {
      continue;
    }
    value = isPlainObject(value) && isPlainObject(layer) ? deepMerge(value, layer) : layer;
  }
  return value as T | undefined;
}

/** `~/…` and `${workspaceFolder}` expanded; other paths as written. */
export function expandPath(p: string): string {
  let out = p.trim();
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (folder) {
    out = out.replace(/\$\{workspaceFolder\}/g, folder);
  }
  if (out === '~' || out.startsWith('~/')) {
    out = path.join(os.homedir(), out.slice(1));
  }
  return out;
}

function userServerSettings(): Partial<Record<ServerKey, unknown>> {
  const out: Partial<Record<ServerKey, unknown>> = {};
  for (const key of SERVER_KEYS) {
    let value = userValue<unknown>(key);
    if (value === undefined) {
      continue;
    }
    if (key === 'model' && typeof value === 'string') {
      value = value.trim() === '' ? 'default' : expandPath(value);
    }
    out[key] = value;
  }
  return out;
}

/** `initializationOptions`: the keys the user set, nothing else. */
export function initializationOptions(): Record<string, unknown> {
  return userServerSettings();
}

/**
 * The `settings` of `workspace/didChangeConfiguration`: every server key, the server's default
 * for those the user does not set (any more), so that removing a setting resets it. The server
 * reloads the model only when `model` or `device` really changed.
 */
export function changedSettings(): Record<string, unknown> {
  return { ...SERVER_DEFAULTS, ...userServerSettings() };
}

/** What the status bar shows for the model: "default", or the checkpoint folder's name. */
export function modelLabel(): { label: string; detail: string } {
  const model = userValue<string>('model');
  if (model === undefined || model.trim() === '' || model.trim() === 'default') {
    return { label: 'default', detail: 'the model embedded in the anneal binary' };
  }
  const full = expandPath(model);
  return { label: path.basename(full.replace(/[\\/]+$/, '')) || full, detail: full };
}

export function deviceLabel(): string {
  return userValue<string>('device') ?? SERVER_DEFAULTS.device;
}
