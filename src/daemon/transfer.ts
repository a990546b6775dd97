/**
 * Export and import of Hugging Face model folders. Export: a stored checkpoint → config.json,
 * generation_config.json, tokenizer files and model.safetensors (F32 or BF16, sharded with an index above
 * 2 GB, via the engine's checkpoint writer) as a zip built file by file with fflate, or written straight into a
 * directory (File System Access API); a regime-3 model also gets regime3-codebook.json and its codes as added tokens.
 * Import: folder files or a zip, checked with the engine's checkpoint rules (config, every tensor's name and shape,
 * tokenizer, the codebook when present), then stored as a new model.
 */
import { Zip, ZipPassThrough, unzipSync } from 'fflate';
import { readModelConfig, readTensors, saveTensors, type FolderReader, type FolderWriter } from '../engine/checkpoint.ts';
import { parameterShapes, type HfTensor } from '../engine/model.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { CheckpointError } from '../engine/errors.ts';
import type { ModelConfig } from '../engine/types.ts';
import { CheckpointStore } from '../store/checkpoints.ts';
import type { ModelRow, WorkbenchDb } from '../store/db.ts';
import { ModelRepo } from '../store/state.ts';
import { IMPORT_PREFIX, folderFor } from './folders.ts';
import type { StoredTrainerState } from './session.ts';
import { codebookTokens } from './codebook.ts';
import { loadCodebook } from '../regime3/codebook.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';

/** The codebook file of a regime-3 model folder (the same name the train CLI reads and writes). */
export const CODEBOOK_FILE = 'regime3-codebook.json';

export interface ExportTarget {
  writer: FolderWriter;
  /** Resolves when every file is flushed. */
  finish(): Promise<void>;
}

/** A zip assembled file by file (each file's bytes are handed to the zip and dropped). */
export function zipTarget(): ExportTarget & { result(): Promise<Blob> } {
  const parts: Uint8Array[] = [];
  let done!: (b: Blob) => void;
  let fail!: (e: Error) => void;
  const blob = new Promise<Blob>((res, rej) => {
    done = res;
    fail = rej;
  });
  const zip = new Zip((err, chunk, final) => {
    if (err) return fail(err);
    parts.push(chunk);
    if (final) done(new Blob(parts as BlobPart[], { type: 'application/zip' }));
  });
  return {
    writer: {
      async write(name, bytes) {
        const f = new ZipPassThrough(name);
        zip.add(f);
        f.push(bytes, true);
      },
    },
    async finish() {
      zip.end();
      await blob;
    },
    result: () => blob,
  };
}

/** Files written into a directory picked with showDirectoryPicker. */
export function directoryTarget(dir: FileSystemDirectoryHandle): ExportTarget {
  return {
    writer: {
      async write(name, bytes) {
        const fh = await dir.getFileHandle(name, { create: true });
        const w = await fh.createWritable();
        await w.write(bytes as BufferSource);
        await w.close();
      },
    },
    async finish() {},
  };
}

/** Writes checkpoint `id` as a Hugging Face folder into `target`; returns the file names. */
export async function exportCheckpoint(
  db: WorkbenchDb,
  id: string,
  target: ExportTarget,
  opts: { dtype?: 'float32' | 'bfloat16'; maxShardBytes?: number; folder?: (ref: string) => FolderReader } = {},
): Promise<{ files: string[]; fileName: string }> {
  const { manifest, tensors } = await new CheckpointStore(db).read(id, (name) => name.startsWith('model/')); // weights only, not optimizer state
  const st = manifest.trainerState as unknown as StoredTrainerState;
  const model = await db.models.get(manifest.modelId);
  const config: ModelConfig | undefined = st.modelConfig ?? model?.config;
  if (!config) throw new CheckpointError(`checkpoint "${id}" has no model config`);
  const weights = new Map<string, HfTensor>();
  for (const t of tensors) if (t.name.startsWith('model/')) weights.set(t.name.slice(6), { shape: t.shape, data: t.data as Float32Array });
  const tokFolder = (opts.folder ?? ((ref: string) => folderFor(db, ref)))(manifest.tokenizerRef);
  const tokenizer = await exportTokenizer(tokFolder, model?.codebook, config.vocabSize);
  const files = await saveTensors(config, weights, target.writer, {
    dtype: opts.dtype === 'bfloat16' ? 'BF16' : 'F32',
    maxShardBytes: opts.maxShardBytes,
    tokenizerJson: tokenizer.tokenizerJson,
    tokenizerConfigJson: tokenizer.tokenizerConfigJson,
  });
  if (tokenizer.codebook) {
    await target.writer.write(CODEBOOK_FILE, new TextEncoder().encode(JSON.stringify(tokenizer.codebook, null, 2)));
    files.push(CODEBOOK_FILE);
  }
  await target.finish();
  const safe = `${manifest.modelId}-step${manifest.step}`.replace(/[^A-Za-z0-9._-]+/g, '_');
  return { files, fileName: `${safe}.zip` };
}

/**
 * Tokenizer files of an export: as stored, or — when the model has a regime-3 codebook whose tokens this
 * checkpoint's vocabulary holds (it was trained with it) — with the codes as added tokens, plus the codebook.
 */
async function exportTokenizer(folder: FolderReader, codebook: CodebookData | undefined, vocabSize: number): Promise<{ tokenizerJson?: Uint8Array; tokenizerConfigJson?: Uint8Array; codebook?: CodebookData }> {
  const tokenizerJson = (await folder.read('tokenizer.json')) ?? undefined;
  const tokenizerConfigJson = (await folder.read('tokenizer_config.json')) ?? undefined;
  if (!codebook || !tokenizerJson || !tokenizerConfigJson) return { tokenizerJson, tokenizerConfigJson };
  const parse = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as object;
  const tok = loadTokenizer(parse(tokenizerJson), parse(tokenizerConfigJson));
  tok.addTokens(codebookTokens(codebook));
  if (tok.vocabSize > vocabSize) return { tokenizerJson, tokenizerConfigJson }; // a checkpoint from before the codebook
  const f = tok.toFiles();
  const enc = (x: object) => new TextEncoder().encode(JSON.stringify(x));
  return { tokenizerJson: enc(f.tokenizerJson), tokenizerConfigJson: enc(f.tokenizerConfig), codebook };
}

/** Zip entries (a single top folder is stripped) as folder files. */
export function filesFromZip(bytes: Uint8Array): { path: string; bytes: Uint8Array }[] {
  const entries = Object.entries(unzipSync(bytes)).filter(([p]) => !p.endsWith('/') && !p.startsWith('__MACOSX/'));
  const tops = new Set(entries.map(([p]) => (p.includes('/') ? p.split('/')[0] : '')));
  const strip = tops.size === 1 && !tops.has('') ? [...tops][0].length + 1 : 0;
  return entries.map(([p, b]) => ({ path: p.slice(strip), bytes: b }));
}

function memReader(files: Map<string, Uint8Array>): FolderReader {
  return { read: async (name) => files.get(name) ?? null };
}

/**
 * Checks a model folder with the engine's rules: config.json parses, every expected tensor is there with its
 * shape, tokenizer.json and tokenizer_config.json load and fit the vocabulary. Throws CheckpointError naming the file.
 */
export async function checkModelFolder(files: Map<string, Uint8Array>): Promise<ModelConfig> {
  const folder = memReader(files);
  const config = await readModelConfig(folder);
  const tensors = await readTensors(folder);
  for (const [name, shape] of parameterShapes(config)) {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(`the model folder lacks tensor "${name}" (expected shape [${shape}])`, 'model.safetensors', name);
    if (t.shape.join(',') !== shape.join(',')) throw new CheckpointError(`tensor "${name}" has shape [${t.shape}], config.json needs [${shape}]`, 'model.safetensors', name);
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (!files.has(f)) throw new CheckpointError(`the model folder has no ${f}`, f);
  const parse = (f: string) => {
    try {
      return JSON.parse(new TextDecoder().decode(files.get(f)!)) as object;
    } catch (e) {
      throw new CheckpointError(`${f} is not valid JSON (${(e as Error).message})`, f);
    }
  };
  const tok = loadTokenizer(parse('tokenizer.json'), parse('tokenizer_config.json'));
  if (tok.vocabSize > config.vocabSize) throw new CheckpointError(`tokenizer.json has ${tok.vocabSize} tokens but config.json's vocab_size is ${config.vocabSize}`, 'tokenizer.json');
  return config;
}

/** The folder's regime3-codebook.json, checked (a malformed one is a CheckpointError naming it), or undefined. */
function readCodebook(files: Map<string, Uint8Array>): CodebookData | undefined {
  const bytes = files.get(CODEBOOK_FILE);
  if (!bytes) return undefined;
  try {
    return loadCodebook(JSON.parse(new TextDecoder().decode(bytes)), CODEBOOK_FILE).data;
  } catch (e) {
    throw new CheckpointError(`${CODEBOOK_FILE} is not a valid regime-3 codebook: ${(e as Error).message}`, CODEBOOK_FILE);
  }
}

/** Validates and stores an imported folder as a new (inactive) model. */
export async function importModelFolder(db: WorkbenchDb, input: { path: string; bytes: Uint8Array }[], name?: string): Promise<ModelRow> {
  const files = new Map<string, Uint8Array>();
  // Hugging Face model folders are flat: a dropped folder's files are keyed by their base name.
  for (const f of input) files.set(f.path.split('/').pop()!, f.bytes);
  const config = await checkModelFolder(files);
  const codebook = readCodebook(files);
  const id = `import-${Date.now().toString(36)}`;
  const row: ModelRow = {
    id,
    name: name ?? `Imported ${config.numHiddenLayers}-layer d${config.hiddenSize} model`,
    config,
    tokenizerRef: `${IMPORT_PREFIX}${id}`,
    source: 'imported',
    baseRef: `${IMPORT_PREFIX}${id}`,
    baseModel: name ?? id,
    lineage: [],
    active: 0,
    step: 0,
    trained: false,
    createdAt: Date.now(),
    ...(codebook ? { codebook } : {}),
  };
  await db.transaction('rw', db.modelFiles, db.models, async () => {
    for (const [path, bytes] of files) await db.modelFiles.put({ modelId: id, path, blob: new Blob([bytes as BlobPart]) });
    await new ModelRepo(db).put(row);
  });
  return row;
}

/** Imports what the person picked or dropped: folder files or a zip (see importModelFolder). */
export async function importModelSource(db: WorkbenchDb, source: { files: { path: string; blob: Blob }[] } | { zip: Blob }, name?: string): Promise<ModelRow> {
  const files =
    'zip' in source
      ? filesFromZip(new Uint8Array(await source.zip.arrayBuffer()))
      : await Promise.all(source.files.map(async (f) => ({ path: f.path, bytes: new Uint8Array(await f.blob.arrayBuffer()) })));
  return importModelFolder(db, files, name);
}

/** Exports checkpoint `id` as a zip Blob, or into `directory` (File System Access API) when given. */
export async function exportCheckpointAs(
  db: WorkbenchDb,
  id: string,
  opts: { dtype?: 'float32' | 'bfloat16'; directory?: FileSystemDirectoryHandle; folder?: (ref: string) => FolderReader },
): Promise<{ zip?: Blob; fileName: string; files: string[] }> {
  if (opts.directory) {
    const r = await exportCheckpoint(db, id, directoryTarget(opts.directory), opts);
    return { fileName: r.fileName, files: r.files };
  }
  const t = zipTarget();
  const r = await exportCheckpoint(db, id, t, opts);
  return { zip: await t.result(), fileName: r.fileName, files: r.files };
}
