// Turns what the person drops or picks into the list of data files to queue: several files at once and whole
// folders, walked recursively; every .jsonl / .json file becomes one item, everything else is listed as ignored.

export interface CollectedFiles {
  files: File[];
  /** Paths of dropped files that are not .jsonl / .json (shown to the person, never queued). */
  ignored: string[];
}

export function isDataFileName(name: string): boolean {
  return /\.(jsonl|json)$/i.test(name);
}

/** Splits a flat list (file input, or files already read from folders) into data files and ignored names. */
export function partitionFiles(all: Iterable<File>, pathOf: (f: File) => string = (f) => f.webkitRelativePath || f.name): CollectedFiles {
  const files: File[] = [];
  const ignored: string[] = [];
  for (const f of all) {
    if (isDataFileName(f.name)) files.push(f);
    else ignored.push(pathOf(f));
  }
  return { files, ignored };
}

function readAllEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const out: FileSystemEntry[] = [];
  return new Promise((resolve, reject) => {
    // readEntries returns at most 100 entries per call: call until it returns none.
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) return resolve(out);
        out.push(...batch);
        next();
      }, reject);
    next();
  });
}

async function walk(entry: FileSystemEntry, out: File[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    out.push(file);
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry as FileSystemDirectoryEntry)) await walk(child, out);
  }
}

/** Every file of a drop, folders walked recursively (entries must be taken synchronously in the drop handler). */
export async function filesFromDataTransfer(dt: DataTransfer): Promise<CollectedFiles> {
  const entries: FileSystemEntry[] = [];
  const loose: File[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push(f);
    }
  }
  const all = [...loose];
  for (const e of entries) await walk(e, all);
  return partitionFiles(all);
}
