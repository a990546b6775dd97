/**
 * Hugging Face model folders (config.json, generation_config.json, model.safetensors or shards with
 * model.safetensors.index.json, tokenizer files) read and written through a tiny folder interface that
 * works in Node (node-folder.ts) and in the browser (IndexedDB Blobs, fetch, File System Access). Weights stream:
 * a load reads each file's header, then one tensor at a time (ranged reads); a save writes each shard's header,
 * then each tensor's bytes as it arrives, so a 0.6B model is never held whole in host memory.
 */
import { CheckpointError, ConfigError } from './errors.ts';
import { parseModelConfig, toHfConfig, toHfGenerationConfig } from './config/model-config.ts';
import { Qwen3Model, parameterShapes, type HfTensor } from './model.ts';
import {
  dtypeBytes, encodeTensorPieces, readSafetensorsHeader, readTensor, safetensorsHeader,
  type RangedSource, type SafetensorsHeader, type WriteDtype,
} from './safetensors.ts';
import type { ModelConfig } from './types.ts';

export interface FolderReader {
  /** The file's bytes, or null when it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
  /** The file's size in bytes, or null when it does not exist (readers that offer ranged reads). */
  size?(name: string): Promise<number | null>;
  /** Bytes [start, end) of an existing file (with `size`: weights are then read a tensor at a time). */
  readRange?(name: string, start: number, end: number): Promise<Uint8Array>;
}
export interface FolderWriter {
  write(name: string, bytes: Uint8Array): Promise<void>;
  /**
   * Writes a file from pieces as they come, without holding it whole (large shards). A failure leaves no file
   * that looks complete. Writers without it get the pieces joined and written with `write`.
   */
  writeStream?(name: string, pieces: AsyncIterable<Uint8Array>): Promise<void>;
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
/** Hugging Face's "2GB" shard size (10^9 bytes per GB). */
export const DEFAULT_MAX_SHARD_BYTES = 2_000_000_000;

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message})`, file);
  }
}

/** config.json of a folder as a ModelConfig (ConfigError for unsupported values, CheckpointError when absent). */
export async function readModelConfig(folder: FolderReader): Promise<ModelConfig> {
  const bytes = await folder.read('config.json');
  if (!bytes) throw new CheckpointError('the model folder has no config.json', 'config.json');
  return parseModelConfig(parseJson(bytes, 'config.json'));
}

/** A folder file as a RangedSource: ranged reads when the folder offers them, else read whole once. Null when absent. */
export async function openRanged(folder: FolderReader, name: string): Promise<RangedSource | null> {
  if (folder.size && folder.readRange) {
    const size = await folder.size(name);
    if (size === null) return null;
    const readRange = folder.readRange.bind(folder);
    return { size, read: (start, end) => readRange(name, start, end) };
  }
  const bytes = await folder.read(name);
  if (!bytes) return null;
  return { size: bytes.length, read: async (start, end) => bytes.subarray(start, end) };
}

/** A weights file of a folder: its checked header and which of its tensors the folder takes from it. */
export interface WeightFile {
  file: string;
  source: RangedSource;
  header: SafetensorsHeader;
  /** False for a tensor the index assigns to another shard. */
  takes(name: string): boolean;
}

/**
 * The folder's weight files (model.safetensors, or the shards its index lists) with their headers read and checked;
 * no tensor data is read. Missing files, a malformed index or header, and a tensor the index places in a shard that
 * lacks it are CheckpointErrors naming the file (and tensor).
 */
export async function readWeightFiles(folder: FolderReader): Promise<WeightFile[]> {
  const index = await folder.read(INDEX_FILE);
  if (!index) {
    const source = await openRanged(folder, SINGLE_FILE);
    if (!source) throw new CheckpointError(`the model folder has neither ${SINGLE_FILE} nor ${INDEX_FILE}`, SINGLE_FILE);
    return [{ file: SINGLE_FILE, source, header: await readSafetensorsHeader(source, SINGLE_FILE), takes: () => true }];
  }
  const parsed = parseJson(index, INDEX_FILE) as { weight_map?: unknown };
  const map = parsed?.weight_map;
  if (typeof map !== 'object' || map === null || Object.values(map).some((v) => typeof v !== 'string')) {
    throw new CheckpointError(`${INDEX_FILE} has no valid "weight_map"`, INDEX_FILE);
  }
  const weightMap = map as Record<string, string>;
  const out: WeightFile[] = [];
  for (const shard of new Set(Object.values(weightMap))) {
    if (shard.includes('/') || shard.includes('\\')) throw new CheckpointError(`${INDEX_FILE} names a shard outside the folder: ${shard}`, INDEX_FILE);
    const source = await openRanged(folder, shard);
    if (!source) throw new CheckpointError(`shard ${shard} listed in ${INDEX_FILE} is missing`, shard);
    const header = await readSafetensorsHeader(source, shard);
    out.push({ file: shard, source, header, takes: (name) => weightMap[name] === shard });
  }
  const present = new Set(out.flatMap((f) => f.header.entries.filter((e) => f.takes(e.name)).map((e) => e.name)));
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!present.has(name)) throw new CheckpointError(`tensor "${name}" is listed in ${INDEX_FILE} for ${shard} but that shard lacks it`, shard, name);
  }
  return out;
}

/** Every tensor the config needs is in the files with its shape (extra tensors are allowed). CheckpointError naming file and tensor. */
export function checkWeights(files: readonly WeightFile[], config: ModelConfig): void {
  const found = new Map<string, { file: string; shape: number[] }>();
  for (const f of files) for (const e of f.header.entries) if (f.takes(e.name)) found.set(e.name, { file: f.file, shape: e.shape });
  const where = files.length === 1 ? files[0].file : INDEX_FILE;
  for (const [name, shape] of parameterShapes(config)) {
    const t = found.get(name);
    if (!t) throw new CheckpointError(`${where}: missing tensor "${name}" (expected shape [${shape}])`, where, name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`${t.file}: tensor "${name}" has shape [${t.shape}] but the config needs [${shape}]`, t.file, name);
    }
  }
}

/** The files' tensors (those `only` accepts) one at a time, each read from its file when asked for, as float32. */
export async function* streamWeights(files: readonly WeightFile[], only?: (name: string) => boolean): AsyncGenerator<[string, HfTensor]> {
  for (const f of files) {
    for (const e of f.header.entries) {
      if (!f.takes(e.name) || (only && !only(e.name))) continue;
      yield [e.name, await readTensor(f.source, f.header, e)];
    }
  }
}

/** Every tensor of a folder (single file or shards listed in the index), float32 in HF layout, one at a time. */
export async function* readTensorStream(folder: FolderReader, only?: (name: string) => boolean): AsyncGenerator<[string, HfTensor]> {
  yield* streamWeights(await readWeightFiles(folder), only);
}

export interface LoadProgress {
  /** The tensor just loaded. */
  tensor: string;
  /** Float32 bytes of the weights loaded so far and in all. */
  loadedBytes: number;
  totalBytes: number;
}

/**
 * Loads a model folder: config.json, then every weight file's header (names and shapes checked against the config
 * before any data is read), then one tensor at a time onto the device (Qwen3Model.fromTensorStream).
 */
export async function loadModel(folder: FolderReader, onProgress?: (p: LoadProgress) => void | Promise<void>): Promise<Qwen3Model> {
  const config = await readModelConfig(folder);
  const files = await readWeightFiles(folder);
  checkWeights(files, config);
  const expected = parameterShapes(config);
  let totalBytes = 0;
  for (const shape of expected.values()) totalBytes += 4 * shape.reduce((a, b) => a * b, 1);
  let loadedBytes = 0;
  return Qwen3Model.fromTensorStream(config, streamWeights(files, (name) => expected.has(name)), (tensor, bytes) => {
    loadedBytes += bytes;
    return onProgress?.({ tensor, loadedBytes, totalBytes });
  });
}

/** Writes a file through the folder's streaming write, or joined in memory for writers without one. */
export async function writePieces(folder: FolderWriter, name: string, pieces: AsyncIterable<Uint8Array>): Promise<void> {
  if (folder.writeStream) return folder.writeStream(name, pieces);
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const p of pieces) parts.push(p), (n += p.length);
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) out.set(p, n), (n += p.length);
  await folder.write(name, out);
}

export interface SaveOptions {
  /** Weight dtype on disk (default F32). */
  dtype?: WriteDtype;
  /** Largest shard's tensor data in bytes (default 2 GB); a bigger model is sharded with an index. A single larger tensor gets a shard of its own. */
  maxShardBytes?: number;
  /** Copied verbatim when given. */
  tokenizerJson?: Uint8Array;
  tokenizerConfigJson?: Uint8Array;
}

/** Writes a model as a Hugging Face folder, reading its weights from the device one at a time. Returns the file names. */
export async function saveModel(model: Qwen3Model, folder: FolderWriter, opts: SaveOptions = {}): Promise<string[]> {
  return saveTensorStream(model.config, model.hfTensors(), folder, opts);
}

/** Writes HF-layout tensors held in memory (any order) as a Hugging Face folder; see saveTensorStream. */
export async function saveTensors(config: ModelConfig, tensors: ReadonlyMap<string, HfTensor>, folder: FolderWriter, opts: SaveOptions = {}): Promise<string[]> {
  const names = [...parameterShapes(config).keys()];
  for (const n of names) if (!tensors.has(n)) throw new CheckpointError(`cannot save: tensor "${n}" is missing`, undefined, n);
  return saveTensorStream(config, names.map((n) => [n, tensors.get(n)!] as [string, HfTensor]), folder, opts);
}

export interface StreamSaveOptions extends SaveOptions {
  /** Order in which the tensors arrive (default: parameterShapes order); names the config does not have are skipped. */
  order?: readonly string[];
}

/**
 * Writes HF-layout tensors that arrive one at a time (in `opts.order`) as a Hugging Face folder: shards first, each
 * as its header (computed from the config's shapes) then each tensor's bytes as it arrives (BF16 converted per
 * tensor), then the index, then config.json, so a crash never leaves a folder that looks complete. Tied models get
 * no lm_head.weight. A tensor that arrives out of order, with another shape, or not at all is a CheckpointError.
 */
export async function saveTensorStream(
  config: ModelConfig, tensors: AsyncIterable<[string, HfTensor]> | Iterable<[string, HfTensor]>, folder: FolderWriter, opts: StreamSaveOptions = {},
): Promise<string[]> {
  const dtype = opts.dtype ?? 'F32';
  const maxShard = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(maxShard > 0)) throw new ConfigError(`maxShardBytes must be positive, got ${maxShard}`, 'maxShardBytes');
  const size = dtypeBytes(dtype);
  const shapes = parameterShapes(config);
  const order = (opts.order ?? [...shapes.keys()]).filter((n) => shapes.has(n));
  const seen = new Set(order);
  for (const n of shapes.keys()) if (!seen.has(n)) throw new CheckpointError(`cannot save: tensor "${n}" is missing`, undefined, n);
  if (seen.size !== order.length) throw new CheckpointError('cannot save: a tensor is listed twice');
  const count = (n: string) => shapes.get(n)!.reduce((a, b) => a * b, 1);
  const shards: string[][] = [[]];
  let used = 0;
  for (const name of order) {
    const bytes = count(name) * size;
    if (used > 0 && used + bytes > maxShard) {
      shards.push([]);
      used = 0;
    }
    shards[shards.length - 1].push(name);
    used += bytes;
  }
  const files = shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);

  const it = Symbol.asyncIterator in tensors ? tensors[Symbol.asyncIterator]() : (tensors as Iterable<[string, HfTensor]>)[Symbol.iterator]();
  /** The next tensor of the stream the config has (others are skipped), checked to be `want`. */
  const next = async (want: string): Promise<HfTensor> => {
    for (;;) {
      const r = await it.next();
      if (r.done) throw new CheckpointError(`cannot save: the tensors ended before "${want}"`, undefined, want);
      const [name, t] = r.value;
      if (!shapes.has(name)) continue;
      if (name !== want) throw new CheckpointError(`cannot save: tensor "${name}" arrived where "${want}" was expected`, undefined, name);
      const shape = shapes.get(name)!;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== count(name)) {
        throw new CheckpointError(`cannot save: tensor "${name}" has shape [${t.shape}] (${t.data.length} values) but the config needs [${shape}]`, undefined, name);
      }
      return t;
    }
  };
  async function* shardPieces(list: string[]): AsyncGenerator<Uint8Array> {
    yield safetensorsHeader(list.map((name) => ({ name, shape: shapes.get(name)! })), dtype).bytes;
    for (const name of list) yield* encodeTensorPieces((await next(name)).data, dtype);
  }
  const written: string[] = [];
  try {
    for (let i = 0; i < shards.length; i++) {
      await writePieces(folder, files[i], shardPieces(shards[i]));
      written.push(files[i]);
    }
  } finally {
    await it.return?.(); // let the source release what it holds (a store read holds a chunk)
  }
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    let total = 0;
    shards.forEach((list, i) => {
      for (const n of list) {
        weightMap[n] = files[i];
        total += count(n) * size;
      }
    });
    await folder.write(INDEX_FILE, json({ metadata: { total_size: total }, weight_map: weightMap }));
    written.push(INDEX_FILE);
  }
  const torchDtype = dtype === 'F32' ? 'float32' : 'bfloat16';
  if (opts.tokenizerJson) {
    await folder.write('tokenizer.json', opts.tokenizerJson);
    written.push('tokenizer.json');
  }
  if (opts.tokenizerConfigJson) {
    await folder.write('tokenizer_config.json', opts.tokenizerConfigJson);
    written.push('tokenizer_config.json');
  }
  await folder.write('generation_config.json', json(toHfGenerationConfig(config)));
  await folder.write('config.json', json(toHfConfig({ ...config, torchDtype })));
  written.push('generation_config.json', 'config.json');
  return written;
}

function json(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');
}
