/**
 * Export and import of Hugging Face model folders, streamed so a 0.6B model is never whole in JS memory.
 * Export: a stored checkpoint → config.json, generation_config.json, tokenizer files and model.safetensors (F32 or
 * BF16, sharded with an index above 2 GB), each shard written as its header and then one tensor at a time as the
 * store yields it; a LoRA checkpoint gives the merged model (W + (α/r)·B·A per target, in plain JS) or, on request,
 * its PEFT adapter folder; weights with more non-finite values than the model was loaded with are refused. Targets: a zip built entry by entry with fflate whose pieces are folded into Blobs every
 * ~64 MB, or a directory (File System Access API, writable streams). A regime-3 model also gets
 * regime3-codebook.json and its codes as added tokens. `format: 'gguf'`: the same merged weights streamed into one GGUF
 * file (engine/gguf) plus an Ollama Modelfile.
 * Import: folder files or a zip (unzipped entry by entry into Blobs), checked from the safetensors headers against
 * config.json (names, dtypes, shapes, offsets inside the file) and the tokenizer, then stored as Blobs as a new model.
 */
import { Unzip, UnzipInflate, Zip, ZipPassThrough } from 'fflate';
import {
  checkWeights, readModelConfig, readWeightFiles, saveTensorStream, writePieces, type FolderReader, type FolderWriter,
} from '../engine/checkpoint.ts';
import { writeSafetensors } from '../engine/safetensors.ts';
import { ollamaModelfile, qwen3Gguf, type GgufFileType } from '../engine/gguf/qwen3-gguf.ts';
import type { HfTensor } from '../engine/model.ts';
import { peftConfig, peftName } from '../engine/lora.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { CheckpointError } from '../engine/errors.ts';
import type { LoraConfig } from '../engine/config/train-config.ts';
import type { ModelConfig } from '../engine/types.ts';
import { CheckpointStore } from '../store/checkpoints.ts';
import type { CheckpointRow, ModelRow, WorkbenchDb } from '../store/db.ts';
import { ModelRepo } from '../store/state.ts';
import { IMPORT_PREFIX, folderFor } from './folders.ts';
import type { StoredTrainerState } from './session.ts';
import { codebookTokens } from './codebook.ts';
import { loadCodebook } from '../regime3/codebook.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';

/** The codebook file of a regime-3 model folder (the same name the train CLI reads and writes). */
export const CODEBOOK_FILE = 'regime3-codebook.json';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** Bytes of zip output (or of one unzipped file) gathered before they are folded into a Blob. */
export const FOLD_BYTES = 64 * 1024 * 1024;
/** Bytes of a dropped zip read at a time while unzipping. */
export const ZIP_READ_BYTES = 16 * 1024 * 1024;

const W = 'model/';
const A = 'lora/';

export interface ExportTarget {
  writer: FolderWriter;
  /** Resolves when every file is flushed. */
  finish(): Promise<void>;
}

export interface ZipTargetOptions {
  /** Output bytes gathered before they become a Blob (default 64 MB). */
  foldBytes?: number;
  /** Makes a Blob of gathered pieces (default `new Blob(parts)`; Chrome pages large Blobs to disk). */
  toBlob?: (parts: Uint8Array[]) => Blob | Promise<Blob>;
}

/**
 * A zip assembled entry by entry (stored, not deflated: weights do not compress). The zip's output is gathered and
 * folded into a Blob every `foldBytes`, so JS holds at most about that much of it plus the piece being added; the
 * result is one Blob made of those Blobs.
 */
export function zipTarget(opts: ZipTargetOptions = {}): ExportTarget & { result(): Promise<Blob> } {
  const foldBytes = opts.foldBytes ?? FOLD_BYTES;
  const toBlob = opts.toBlob ?? ((parts: Uint8Array[]) => new Blob(parts as BlobPart[]));
  const blobs: Blob[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let failed: Error | null = null;
  let ended = false;
  const zip = new Zip((err, chunk, final) => {
    if (err) failed ??= err;
    else if (chunk.length) pending.push(chunk), (pendingBytes += chunk.length);
    if (final) ended = true;
  });
  const fold = async () => {
    if (failed) throw failed;
    if (pending.length === 0) return;
    const parts = pending;
    pending = [];
    pendingBytes = 0;
    blobs.push(await toBlob(parts));
  };
  const writer: FolderWriter = {
    write: (name, bytes) => writer.writeStream!(name, (async function* () { yield bytes; })()),
    async writeStream(name, pieces) {
      const f = new ZipPassThrough(name);
      zip.add(f);
      for await (const p of pieces) {
        f.push(p);
        if (pendingBytes >= foldBytes) await fold();
      }
      f.push(new Uint8Array(0), true);
      if (pendingBytes >= foldBytes) await fold();
    },
  };
  const build = async () => {
    zip.end();
    await fold();
    if (!ended) throw new Error('the zip did not end');
    return new Blob(blobs, { type: 'application/zip' });
  };
  let result: Promise<Blob> | null = null;
  return {
    writer,
    finish: async () => void (await (result ??= build())),
    result: () => (result ??= build()),
  };
}

/** Files written into a directory picked with showDirectoryPicker, each through a writable stream. */
export function directoryTarget(dir: FileSystemDirectoryHandle): ExportTarget {
  const writer: FolderWriter = {
    write: (name, bytes) => writer.writeStream!(name, (async function* () { yield bytes; })()),
    async writeStream(name, pieces) {
      const fh = await dir.getFileHandle(name, { create: true });
      const w = await fh.createWritable(); // written to a swap file, in place only on close
      try {
        for await (const p of pieces) await w.write(p as BufferSource);
        await w.close();
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
    },
  };
  return { writer, async finish() {} };
}

/**
 * What an export gives: the merged model (default), for a LoRA checkpoint its PEFT adapter folder, or the merged
 * model as one GGUF file for llama.cpp / Ollama (`ggufType`, default f16) with an Ollama Modelfile.
 */
export type ExportFormat = 'merged' | 'adapter' | 'gguf';
/** The Ollama Modelfile written beside a GGUF export. */
export const MODELFILE = 'Modelfile';

export interface ExportCheckpointOptions {
  dtype?: 'float32' | 'bfloat16';
  maxShardBytes?: number;
  format?: ExportFormat;
  ggufType?: GgufFileType;
  folder?: (ref: string) => FolderReader;
}

/** True when the checkpoint carries a LoRA adapter (so the adapter can be exported on its own). */
export function hasAdapter(manifest: Pick<CheckpointRow, 'tensors'>): boolean {
  return manifest.tensors.some((t) => t.name.startsWith(A));
}

/** The LoRA settings a checkpoint was trained with (its manifest's trainConfig), checked. */
function loraSettings(manifest: CheckpointRow): LoraConfig {
  const lora = (manifest.trainConfig as { lora?: Partial<LoraConfig> } | undefined)?.lora;
  const ok = lora && Number.isInteger(lora.rank) && lora.rank! > 0 && typeof lora.alpha === 'number' && Array.isArray(lora.targetModules);
  if (!ok) throw new CheckpointError(`the checkpoint at step ${manifest.step} carries a LoRA adapter but not its settings (trainConfig.lora with rank, alpha, targetModules)`, manifest.id);
  return { enabled: true, dropout: 0, ...lora } as LoraConfig;
}

/**
 * W ← W + scale·B·A in place, W [out, in], B [out, r], A [r, in] (Hugging Face layout). Each row's update is
 * summed in float64, then added once (as a merge on the device adds A·B once).
 */
export function mergeLoraInto(w: Float32Array, outDim: number, inDim: number, a: Float32Array, b: Float32Array, rank: number, scale: number): void {
  const row = new Float64Array(inDim);
  for (let o = 0; o < outDim; o++) {
    row.fill(0);
    for (let k = 0; k < rank; k++) {
      const c = scale * b[o * rank + k];
      if (c === 0) continue;
      const ak = k * inDim;
      for (let i = 0; i < inDim; i++) row[i] += c * a[ak + i];
    }
    const wo = o * inDim;
    for (let i = 0; i < inDim; i++) w[wo + i] += row[i];
  }
}

function nonFinite(data: Float32Array): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) n++;
  return n;
}

/** The adapter's A and B per base weight name, shapes checked against the weights and the rank. */
async function readAdapter(store: CheckpointStore, manifest: CheckpointRow, lora: LoraConfig): Promise<Map<string, { a: HfTensor; b: HfTensor }>> {
  const byName = new Map<string, HfTensor>();
  for await (const t of store.streamTensors(manifest, (n) => n.startsWith(A))) byName.set(t.name.slice(A.length), { shape: t.shape, data: t.data as Float32Array });
  const out = new Map<string, { a: HfTensor; b: HfTensor }>();
  for (const e of manifest.tensors) {
    if (!e.name.startsWith(W)) continue;
    const name = e.name.slice(W.length);
    const a = byName.get(peftName(name, 'A')), b = byName.get(peftName(name, 'B'));
    if (!a && !b) continue;
    const [outDim, inDim] = e.shape;
    const bad = (t: string, want: number[], got?: HfTensor) => {
      throw new CheckpointError(`LoRA adapter tensor "${t}" has shape [${got?.shape ?? 'missing'}], the weight ${name} [${e.shape}] at rank ${lora.rank} needs [${want}]`, manifest.id, t);
    };
    if (!a || a.shape.join() !== `${lora.rank},${inDim}`) bad(peftName(name, 'A'), [lora.rank, inDim], a);
    if (!b || b.shape.join() !== `${outDim},${lora.rank}`) bad(peftName(name, 'B'), [outDim, lora.rank], b);
    out.set(name, { a: a!, b: b! });
  }
  if (out.size * 2 !== byName.size) {
    const known = new Set([...out.keys()].flatMap((n) => [peftName(n, 'A'), peftName(n, 'B')]));
    const stray = [...byName.keys()].find((n) => !known.has(n))!;
    throw new CheckpointError(`LoRA adapter tensor "${stray}" belongs to no weight of the checkpoint`, manifest.id, stray);
  }
  return out;
}

/** Writes checkpoint `id` as a Hugging Face folder (or its PEFT adapter) into `target`; returns the file names. */
export async function exportCheckpoint(db: WorkbenchDb, id: string, target: ExportTarget, opts: ExportCheckpointOptions = {}): Promise<{ files: string[]; fileName: string }> {
  const manifest = await db.checkpoints.get(id);
  if (!manifest) throw new CheckpointError(`checkpoint "${id}" does not exist`, id);
  const st = manifest.trainerState as unknown as StoredTrainerState;
  const model = await db.models.get(manifest.modelId);
  const config: ModelConfig | undefined = st.modelConfig ?? model?.config;
  if (!config) throw new CheckpointError(`checkpoint "${id}" has no model config`);
  const store = new CheckpointStore(db);
  const safe = `${manifest.modelId}-step${manifest.step}`.replace(/[^A-Za-z0-9._-]+/g, '_');
  const dtype = opts.dtype === 'bfloat16' ? 'BF16' : 'F32';
  const lora = hasAdapter(manifest) ? loraSettings(manifest) : null;

  if (opts.format === 'adapter') {
    if (!lora) throw new CheckpointError(`the checkpoint at step ${manifest.step} has no LoRA adapter: export the model instead`, id);
    const adapter = await readAdapter(store, manifest, lora); // checks names and shapes
    const tensors: [string, HfTensor][] = [];
    for (const [name, { a, b }] of adapter) tensors.push([peftName(name, 'A'), a], [peftName(name, 'B'), b]);
    const bad = tensors.find(([, t]) => nonFinite(t.data) > 0);
    if (bad) throw new CheckpointError(`the checkpoint at step ${manifest.step} has non-finite values in LoRA adapter tensor ${bad[0]}: it is not exported`, id, bad[0]);
    await target.writer.write(ADAPTER_WEIGHTS_FILE, writeSafetensors(tensors, dtype)); // rank-r matrices: small
    const json = peftConfig(lora, model?.baseModel ?? manifest.modelId);
    await target.writer.write(ADAPTER_CONFIG_FILE, new TextEncoder().encode(JSON.stringify(json, null, 2) + '\n'));
    await target.finish();
    return { files: [ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE], fileName: `${safe}-lora.zip` };
  }

  const adapter = lora ? await readAdapter(store, manifest, lora) : new Map<string, { a: HfTensor; b: HfTensor }>();
  const scale = lora ? lora.alpha / lora.rank : 0;
  const tokFolder = (opts.folder ?? ((ref: string) => folderFor(db, ref)))(manifest.tokenizerRef);
  const tokenizer = await exportTokenizer(tokFolder, model?.codebook, config.vocabSize);
  async function* weights(): AsyncGenerator<[string, HfTensor]> {
    for await (const t of store.streamTensors(manifest!, (n) => n.startsWith(W))) {
      const name = t.name.slice(W.length);
      if (t.dtype !== 'float32') throw new CheckpointError(`checkpoint tensor "${t.name}" is ${t.dtype}, not float32`, id, t.name);
      const data = t.data as Float32Array; // owned by this read: merged in place
      const ab = adapter.get(name);
      if (ab) mergeLoraInto(data, t.shape[0], t.shape[1], ab.a.data, ab.b.data, lora!.rank, scale);
      const bad = nonFinite(data), allowed = st.nonFiniteAtLoad?.[name] ?? 0;
      if (bad > allowed) {
        throw new CheckpointError(
          `the checkpoint at step ${manifest!.step} has ${bad} non-finite values in ${name}${ab ? ' (with its LoRA adapter merged)' : ''}${allowed ? `, more than the ${allowed} it was loaded with` : ''}: it is not exported`,
          id, name,
        );
      }
      yield [name, { shape: t.shape, data }];
    }
  }
  if (opts.format === 'gguf') {
    const type = opts.ggufType ?? 'f16';
    const parse = (b: Uint8Array | undefined, f: string) => {
      if (!b) throw new CheckpointError(`the model has no ${f}: a GGUF file carries the tokenizer`, f);
      return JSON.parse(new TextDecoder().decode(b)) as object;
    };
    const gguf = qwen3Gguf({
      config, type, name: model?.name ?? manifest.modelId, weights: weights(),
      order: manifest.tensors.filter((e) => e.name.startsWith(W)).map((e) => [e.name.slice(W.length), e.shape] as const),
      tokenizerJson: parse(tokenizer.tokenizerJson, 'tokenizer.json'), tokenizerConfig: parse(tokenizer.tokenizerConfigJson, 'tokenizer_config.json'),
    });
    const ggufName = `${safe}-${type}.gguf`;
    await writePieces(target.writer, ggufName, gguf.pieces);
    await target.writer.write(MODELFILE, new TextEncoder().encode(ollamaModelfile(ggufName)));
    await target.finish();
    return { files: [ggufName, MODELFILE], fileName: `${safe}-${type}-gguf.zip` };
  }
  const files = await saveTensorStream(config, weights(), target.writer, {
    order: manifest.tensors.filter((e) => e.name.startsWith(W)).map((e) => e.name.slice(W.length)),
    dtype,
    maxShardBytes: opts.maxShardBytes,
    tokenizerJson: tokenizer.tokenizerJson,
    tokenizerConfigJson: tokenizer.tokenizerConfigJson,
  });
  if (tokenizer.codebook) {
    await target.writer.write(CODEBOOK_FILE, new TextEncoder().encode(JSON.stringify(tokenizer.codebook, null, 2)));
    files.push(CODEBOOK_FILE);
  }
  await target.finish();
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

/** A file of an imported folder. */
export interface ImportFile {
  path: string;
  blob: Blob;
}

/**
 * A zip's files (a single top folder is stripped), unzipped entry by entry with fflate's streaming Unzip: the zip is
 * read `ZIP_READ_BYTES` at a time and each file's bytes are folded into Blobs every `FOLD_BYTES`, so JS never holds
 * the zip or a whole file. Stored and deflated entries; an unreadable zip is a CheckpointError naming it.
 */
export async function filesFromZip(zip: Blob, zipName = 'the zip'): Promise<ImportFile[]> {
  const out: ImportFile[] = [];
  let failed: unknown = null;
  let open = 0;
  const unzip = new Unzip((file) => {
    const keep = !file.name.endsWith('/') && !file.name.startsWith('__MACOSX/');
    const blobs: Blob[] = [];
    let pending: Uint8Array[] = [];
    let n = 0;
    open++;
    file.ondata = (err, dat, final) => {
      if (err) return void (failed ??= err);
      if (keep && dat.length) pending.push(dat), (n += dat.length);
      if (keep && (n >= FOLD_BYTES || final) && pending.length) {
        blobs.push(new Blob(pending as BlobPart[]));
        pending = [];
        n = 0;
      }
      if (final) {
        open--;
        if (keep) out.push({ path: file.name, blob: new Blob(blobs) });
      }
    };
    file.start(); // now, so that no entry's bytes wait in the unzipper
  });
  unzip.register(UnzipInflate);
  try {
    if (zip.size === 0) unzip.push(new Uint8Array(0), true);
    for (let at = 0; at < zip.size; at += ZIP_READ_BYTES) {
      unzip.push(new Uint8Array(await zip.slice(at, at + ZIP_READ_BYTES).arrayBuffer()), at + ZIP_READ_BYTES >= zip.size);
      if (failed) break;
    }
  } catch (e) {
    failed ??= e;
  }
  if (failed || open > 0) {
    const why = failed instanceof Error ? failed.message : failed ? String(failed) : 'it ends inside an entry';
    throw new CheckpointError(`${zipName} could not be unzipped: ${why}`, zipName);
  }
  if (out.length === 0) throw new CheckpointError(`${zipName} holds no files (is it a zip of a model folder?)`, zipName);
  const tops = new Set(out.map((f) => (f.path.includes('/') ? f.path.split('/')[0] : '')));
  const strip = tops.size === 1 && !tops.has('') ? [...tops][0].length + 1 : 0;
  return out.map((f) => ({ path: f.path.slice(strip), blob: f.blob }));
}

/** Dropped files behind the FolderReader interface: ranged reads by Blob.slice, whole reads for the small files. */
export function blobFolder(files: ReadonlyMap<string, Blob>): FolderReader {
  return {
    read: async (name) => {
      const b = files.get(name);
      return b ? new Uint8Array(await b.arrayBuffer()) : null;
    },
    size: async (name) => files.get(name)?.size ?? null,
    readRange: async (name, start, end) => new Uint8Array(await files.get(name)!.slice(start, end).arrayBuffer()),
  };
}

async function readSmall(files: ReadonlyMap<string, Blob>, f: string): Promise<object | undefined> {
  const b = files.get(f);
  if (!b) return undefined;
  try {
    return JSON.parse(await b.text()) as object;
  } catch (e) {
    throw new CheckpointError(`${f} is not valid JSON (${(e as Error).message})`, f);
  }
}

/**
 * Checks a model folder with the engine's rules, reading only config.json, the safetensors headers and the
 * tokenizer: every expected tensor is there with its dtype and shape and lies inside its file;
 * tokenizer.json and tokenizer_config.json load and fit the vocabulary. Throws CheckpointError naming the file (and tensor).
 */
export async function checkModelFolder(files: ReadonlyMap<string, Blob>): Promise<ModelConfig> {
  const folder = blobFolder(files);
  const config = await readModelConfig(folder);
  checkWeights(await readWeightFiles(folder), config);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (!files.has(f)) throw new CheckpointError(`the model folder has no ${f}`, f);
  const tok = loadTokenizer((await readSmall(files, 'tokenizer.json'))!, (await readSmall(files, 'tokenizer_config.json'))!);
  if (tok.vocabSize > config.vocabSize) throw new CheckpointError(`tokenizer.json has ${tok.vocabSize} tokens but config.json's vocab_size is ${config.vocabSize}`, 'tokenizer.json');
  return config;
}

/** The folder's regime3-codebook.json, checked (a malformed one is a CheckpointError naming it), or undefined. */
async function readCodebook(files: ReadonlyMap<string, Blob>): Promise<CodebookData | undefined> {
  const json = await readSmall(files, CODEBOOK_FILE);
  if (!json) return undefined;
  try {
    return loadCodebook(json, CODEBOOK_FILE).data;
  } catch (e) {
    throw new CheckpointError(`${CODEBOOK_FILE} is not a valid regime-3 codebook: ${(e as Error).message}`, CODEBOOK_FILE);
  }
}

/** Validates and stores an imported folder (its files kept as the Blobs given) as a new (inactive) model. */
export async function importModelFolder(db: WorkbenchDb, input: (ImportFile | { path: string; bytes: Uint8Array })[], name?: string): Promise<ModelRow> {
  const files = new Map<string, Blob>();
  // Hugging Face model folders are flat: a dropped folder's files are keyed by their base name.
  for (const f of input) files.set(f.path.split('/').pop()!, 'blob' in f ? f.blob : new Blob([f.bytes as BlobPart]));
  const config = await checkModelFolder(files);
  const codebook = await readCodebook(files);
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
    for (const [path, blob] of files) await db.modelFiles.put({ modelId: id, path, blob });
    await new ModelRepo(db).put(row);
  });
  return row;
}

/** Imports what the person picked or dropped: folder files or a zip (see importModelFolder). */
export async function importModelSource(db: WorkbenchDb, source: { files: ImportFile[] } | { zip: Blob }, name?: string): Promise<ModelRow> {
  const files = 'zip' in source ? await filesFromZip(source.zip, source.zip instanceof File ? source.zip.name : 'the zip') : source.files;
  return importModelFolder(db, files, name);
}

/** Exports checkpoint `id` as a zip Blob, or into `directory` (File System Access API) when given. */
export async function exportCheckpointAs(
  db: WorkbenchDb,
  id: string,
  opts: Omit<ExportCheckpointOptions, 'maxShardBytes'> & { directory?: FileSystemDirectoryHandle; zip?: ZipTargetOptions },
): Promise<{ zip?: Blob; fileName: string; files: string[] }> {
  if (opts.directory) {
    const r = await exportCheckpoint(db, id, directoryTarget(opts.directory), opts);
    return { fileName: r.fileName, files: r.files };
  }
  const t = zipTarget(opts.zip);
  const r = await exportCheckpoint(db, id, t, opts);
  return { zip: await t.result(), fileName: r.fileName, files: r.files };
}
