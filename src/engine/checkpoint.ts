/**
 * Hugging Face model folders (config.json, generation_config.json, model.safetensors or shards with
 * model.safetensors.index.json, tokenizer files) read and written through a tiny folder interface that
 * works in Node (node-folder.ts) and in the browser (OPFS, IndexedDB, fetch).
 */
import { CheckpointError, ConfigError } from './errors.ts';
import { parseModelConfig, toHfConfig, toHfGenerationConfig } from './config/model-config.ts';
import { Qwen3Model, parameterShapes, type HfTensor } from './model.ts';
import { readSafetensors, writeSafetensors, type WriteDtype } from './safetensors.ts';
import type { ModelConfig } from './types.ts';

export interface FolderReader {
  /** The file's bytes, or null when it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
}
export interface FolderWriter {
  write(name: string, bytes: Uint8Array): Promise<void>;
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

/** Every tensor of a folder (single file or shards listed in the index), float32 in HF layout. */
export async function readTensors(folder: FolderReader): Promise<Map<string, HfTensor>> {
  const index = await folder.read(INDEX_FILE);
  if (!index) {
    const bytes = await folder.read(SINGLE_FILE);
    if (!bytes) throw new CheckpointError(`the model folder has neither ${SINGLE_FILE} nor ${INDEX_FILE}`, SINGLE_FILE);
    return readSafetensors(bytes, SINGLE_FILE).tensors;
  }
  const parsed = parseJson(index, INDEX_FILE) as { weight_map?: unknown };
  const map = parsed?.weight_map;
  if (typeof map !== 'object' || map === null || Object.values(map).some((v) => typeof v !== 'string')) {
    throw new CheckpointError(`${INDEX_FILE} has no valid "weight_map"`, INDEX_FILE);
  }
  const weightMap = map as Record<string, string>;
  const out = new Map<string, HfTensor>();
  for (const shard of new Set(Object.values(weightMap))) {
    if (shard.includes('/') || shard.includes('\\')) throw new CheckpointError(`${INDEX_FILE} names a shard outside the folder: ${shard}`, INDEX_FILE);
    const bytes = await folder.read(shard);
    if (!bytes) throw new CheckpointError(`shard ${shard} listed in ${INDEX_FILE} is missing`, shard);
    for (const [name, t] of readSafetensors(bytes, shard).tensors) {
      if (weightMap[name] === shard) out.set(name, t);
    }
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!out.has(name)) throw new CheckpointError(`tensor "${name}" is listed in ${INDEX_FILE} for ${shard} but that shard lacks it`, shard, name);
  }
  return out;
}

/** Loads a model folder: config.json plus weights, checked against the config (names and shapes). */
export async function loadModel(folder: FolderReader): Promise<Qwen3Model> {
  const config = await readModelConfig(folder);
  return Qwen3Model.fromTensors(config, await readTensors(folder));
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

/** Writes a model as a Hugging Face folder. Returns the names of the files written. */
export async function saveModel(model: Qwen3Model, folder: FolderWriter, opts: SaveOptions = {}): Promise<string[]> {
  return saveTensors(model.config, await model.toTensors(), folder, opts);
}

/**
 * Writes HF-layout tensors and the config files as a Hugging Face folder: shards first, then the index,
 * then config.json, so a crash never leaves a folder that looks complete. Tied models get no lm_head.weight.
 */
export async function saveTensors(config: ModelConfig, tensors: ReadonlyMap<string, HfTensor>, folder: FolderWriter, opts: SaveOptions = {}): Promise<string[]> {
  const dtype = opts.dtype ?? 'F32';
  const maxShard = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(maxShard > 0)) throw new ConfigError(`maxShardBytes must be positive, got ${maxShard}`, 'maxShardBytes');
  const size = dtype === 'F32' ? 4 : 2;
  const names = [...parameterShapes(config).keys()];
  const shards: string[][] = [[]];
  let used = 0;
  for (const name of names) {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(`cannot save: tensor "${name}" is missing`, undefined, name);
    const bytes = t.data.length * size;
    if (used > 0 && used + bytes > maxShard) {
      shards.push([]);
      used = 0;
    }
    shards[shards.length - 1].push(name);
    used += bytes;
  }
  const written: string[] = [];
  const entries = (list: string[]) => list.map((n) => [n, tensors.get(n)!] as [string, HfTensor]);
  if (shards.length === 1) {
    await folder.write(SINGLE_FILE, writeSafetensors(entries(shards[0]), dtype));
    written.push(SINGLE_FILE);
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let i = 0; i < shards.length; i++) {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
      await folder.write(file, writeSafetensors(entries(shards[i]), dtype));
      written.push(file);
      for (const n of shards[i]) {
        weightMap[n] = file;
        total += tensors.get(n)!.data.length * size;
      }
    }
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
