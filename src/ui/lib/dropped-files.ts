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

async function walk(entry: FileSystemEntry, out: File[], paths?: string[], prefix = ''): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    out.push(file);
    paths?.push(prefix + entry.name);
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry as FileSystemDirectoryEntry)) await walk(child, out, paths, `${prefix}${entry.name}/`);
  }
}

/** Entries of a drop, taken synchronously (the DataTransfer empties once the handler returns). */
function entriesOf(dt: DataTransfer): { entries: FileSystemEntry[]; loose: File[] } {
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
  return { entries, loose };
}

/**
 * A dropped model: one .zip, or the files of one dropped folder with paths relative to it
 * (`Qwen3-0.6B/config.json` → `config.json`), for the daemon's importModel.
 */
export async function modelFromDataTransfer(dt: DataTransfer): Promise<Blob | { path: string; blob: Blob }[]> {
  const { entries, loose } = entriesOf(dt);
  if (loose.length === 1 && entries.length === 0 && /\.zip$/i.test(loose[0].name)) return loose[0];
  if (entries.length === 1 && entries[0].isFile && /\.zip$/i.test(entries[0].name)) {
    const files: File[] = [];
    await walk(entries[0], files);
    return files[0];
  }
  const files: File[] = [...loose];
  const paths: string[] = loose.map((f) => f.name);
  for (const e of entries) await walk(e, files, paths);
  return files.map((f, i) => ({ path: stripTopFolder(paths[i]), blob: f }));
}

/** `folder/sub/file` → `sub/file`; a bare name stays as it is. */
export function stripTopFolder(path: string): string {
  const i = path.indexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** Every file of a drop, folders walked recursively (entries must be taken synchronously in the drop handler). */
export async function filesFromDataTransfer(dt: DataTransfer): Promise<CollectedFiles> {
  const { entries, loose } = entriesOf(dt);
  const all = [...loose];
  for (const e of entries) await walk(e, all);
  return partitionFiles(all);
}
