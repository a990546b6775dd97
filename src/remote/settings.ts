/**
 * Where the workbench keeps the inference node's URL and keys: browser storage (localStorage) under
 * its own key, never in the database, exports or backups.
 */

export interface RemoteSettings {
  url: string;
  /** Admin key (deploy, eval and data-gen jobs); empty when only reading. */
  adminKey: string;
  /** Read key (chat, lists, telemetry); the admin key is used when empty. */
  readKey: string;
}

export const REMOTE_SETTINGS_KEY = 'workbench.remote-node.v1';
/** No URL until the person enters one: nothing is polled before that (no failed requests on a page without a node). */
export const DEFAULT_REMOTE_SETTINGS: RemoteSettings = { url: '', adminKey: '', readKey: '' };

type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

function defaultStorage(): KeyValueStorage | null {
  return typeof localStorage === 'undefined' ? null : localStorage;
}

export function loadRemoteSettings(storage: KeyValueStorage | null = defaultStorage()): RemoteSettings {
  const raw = storage?.getItem(REMOTE_SETTINGS_KEY);
  if (!raw) return { ...DEFAULT_REMOTE_SETTINGS };
  try {
    const o = JSON.parse(raw) as Partial<RemoteSettings>;
    return {
      url: typeof o.url === 'string' ? o.url : DEFAULT_REMOTE_SETTINGS.url,
      adminKey: typeof o.adminKey === 'string' ? o.adminKey : '',
      readKey: typeof o.readKey === 'string' ? o.readKey : '',
    };
  } catch {
    return { ...DEFAULT_REMOTE_SETTINGS };
  }
}

export function saveRemoteSettings(s: RemoteSettings, storage: KeyValueStorage | null = defaultStorage()): void {
  storage?.setItem(REMOTE_SETTINGS_KEY, JSON.stringify({ url: s.url.trim(), adminKey: s.adminKey, readKey: s.readKey }));
}

export function clearRemoteSettings(storage: KeyValueStorage | null = defaultStorage()): void {
  storage?.removeItem(REMOTE_SETTINGS_KEY);
}
