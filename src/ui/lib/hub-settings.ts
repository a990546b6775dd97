/**
 * Where the Hub import looks (the hub URL: a setting, default the public Hub, or `?hub=URL` for one visit) and the
 * person's Hub token for gated repos. Both live in the settings table; the token's key (`hub.token`) is a secret
 * setting, which backups and exports leave out (store/backup-format.ts isSecretSetting), so it stays in this browser.
 */
import type { WorkbenchDb } from '../../store/db.ts';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const HUB_URL_SETTING = 'hub.url';
export const HUB_TOKEN_SETTING = 'hub.token';

/** A hub URL without its trailing slash; an error naming the value when it is not an http(s) URL. */
export function normalizeHubUrl(raw: string): { url?: string; error?: string } {
  const v = raw.trim();
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    return { url: `${u.origin}${u.pathname}`.replace(/\/+$/, '') };
  } catch {
    return { error: `the hub URL "${raw}" is not an http(s) URL (such as ${DEFAULT_HUB_URL})` };
  }
}

/** The `?hub=` of the page's URL, checked; empty when absent. */
export function hubFromSearch(search: string): { url?: string; error?: string } {
  const raw = new URLSearchParams(search).get('hub');
  if (raw == null || raw === '') return {};
  const r = normalizeHubUrl(raw);
  return r.error ? { error: `?hub=${raw}: ${r.error}` } : r;
}

export async function loadHubUrl(db: WorkbenchDb): Promise<string> {
  const v = (await db.settings.get(HUB_URL_SETTING))?.value;
  return typeof v === 'string' && v ? v : DEFAULT_HUB_URL;
}

export async function saveHubUrl(db: WorkbenchDb, raw: string): Promise<string> {
  const r = normalizeHubUrl(raw);
  if (r.error) throw new Error(r.error);
  await db.settings.put({ key: HUB_URL_SETTING, value: r.url });
  return r.url!;
}

export async function loadHubToken(db: WorkbenchDb): Promise<string> {
  const v = (await db.settings.get(HUB_TOKEN_SETTING))?.value;
  return typeof v === 'string' ? v : '';
}

/** Saves the token (an empty one forgets it). */
export async function saveHubToken(db: WorkbenchDb, token: string): Promise<void> {
  const t = token.trim();
  if (t) await db.settings.put({ key: HUB_TOKEN_SETTING, value: t });
  else await db.settings.delete(HUB_TOKEN_SETTING);
}
