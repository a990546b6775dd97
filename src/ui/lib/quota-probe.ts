// Whether N more bytes fit under this origin's enforced storage quota. Chromium's navigator.storage.estimate() reports
// usage + a fixed 10 GiB (since Chrome 138, against fingerprinting), not the quota it enforces; so the probe grows an
// empty file in the origin private file system to N bytes (a sparse truncate: nothing is written, it takes
// milliseconds, and Chromium checks it against the enforced quota, a DevTools override included), then drops it.

/** True when `bytes` fit now, false when the quota refuses them, undefined where the probe cannot run (no OPFS). */
export async function fitsUnderQuota(bytes: number, storage: Pick<StorageManager, 'getDirectory'> | undefined = globalThis.navigator?.storage): Promise<boolean | undefined> {
  if (!storage?.getDirectory) return undefined;
  const name = `quota-probe-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
  let root: FileSystemDirectoryHandle | undefined;
  try {
    root = await storage.getDirectory();
    const w = await (await root.getFileHandle(name, { create: true })).createWritable();
    try {
      await w.truncate(Math.max(0, Math.floor(bytes)));
      return true;
    } catch (e) {
      if ((e as { name?: string }).name === 'QuotaExceededError') return false;
      return undefined;
    } finally {
      await w.abort().catch(() => undefined);
    }
  } catch {
    return undefined;
  } finally {
    await root?.removeEntry(name).catch(() => undefined);
  }
}
