// Turns what the person drops or picks into the list of data files to queue: several files at once and whole
// folders, walked recursively; every .jsonl / .json file becomes one item, everything else is listed as ignored.
// A file inside a dropped folder keeps its sub-folder names in its item's name (`sub/x.jsonl` → `x_sub.jsonl`),
// with `_{n}` added when two files of one drop would get the same name, as the old inbox did.

export interface CollectedFiles {
  files: File[];
  /** Paths of dropped files that are not .jsonl / .json (shown to the person, never queued). */
  ignored: string[];
}

export function isDataFileName(name: string): boolean {
  return /\.(jsonl|json)$/i.test(name);
}

/**
 * The item name of a data file at `path` inside the dropped folder (the folder's own name first, as a drop or a
 * folder pick gives it): its sub-folder names joined after the stem, `top/a/b/x.jsonl` → `x_a_b.jsonl`; a file
 * at the folder's top, or dropped on its own, keeps its name.
 */
export function inboxName(path: string): string {
  const parts = path.split('/').filter(Boolean);
  const name = parts.pop() ?? path;
  const subs = parts.slice(1);
  if (subs.length === 0) return name;
  const dot = name.lastIndexOf('.');
  return `${name.slice(0, dot)}_${subs.join('_')}${name.slice(dot)}`;
}

/** The names made unique within one drop: a repeated one gets `_2`, `_3`, … before its extension (first one unchanged). */
export function uniqueNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((n) => {
    let out = n;
    const dot = n.lastIndexOf('.');
    for (let k = 2; taken.has(out); k++) out = `${n.slice(0, dot)}_${k}${n.slice(dot)}`;
    taken.add(out);
    return out;
  });
}

/** Splits a flat list (file input, or files read from folders) into data files, named by inboxName, and ignored paths. */
export function partitionFiles(all: Iterable<File>, pathOf: (f: File) => string = (f) => f.webkitRelativePath || f.name): CollectedFiles {
  const data: File[] = [];
  const ignored: string[] = [];
  for (const f of all) {
    if (isDataFileName(f.name)) data.push(f);
    else ignored.push(pathOf(f));
  }
  const names = uniqueNames(data.map((f) => inboxName(pathOf(f))));
  const files = data.map((f, i) => (names[i] === f.name ? f : new File([f], names[i], { type: f.type, lastModified: f.lastModified })));
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
  const paths = loose.map((f) => f.name);
  for (const e of entries) await walk(e, all, paths);
  const pathOf = new Map(all.map((f, i) => [f, paths[i]]));
  return partitionFiles(all, (f) => pathOf.get(f) ?? f.name);
}
