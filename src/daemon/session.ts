/**
 * The trainer's in-memory session: the active model, its tokenizer and profile, the optimizer (and LoRA adapter)
 * carried from file to file, and the cumulative trainer state. Loaded from the model's latest complete checkpoint
 * (or its base folder on first start), tensor by tensor straight to the device (a 0.6B checkpoint with its moments
 * is ~7 GB: it never sits in memory whole); converts the engine's TrainSnapshot to streamed checkpoint tensors.
 */
import { loadModel, readModelConfig, type FolderReader } from '../engine/checkpoint.ts';
import { Qwen3Model, type HfTensor } from '../engine/model.ts';
import { AdamW, type NamedArray } from '../engine/optimizer.ts';
import { LoraAdapter } from '../engine/lora.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import type { LoraConfig, TrainConfig } from '../engine/config/train-config.ts';
import { nonFiniteCounts, type TrainerState, type TrainSnapshot } from '../engine/train.ts';
import type { ChatTokenizer, ModelConfig } from '../engine/types.ts';
import type { Profile } from '../profiles/index.ts';
import type { CheckpointTensor } from '../store/checkpoints.ts';
import type { CheckpointRow, ItemProgress, ModelRow, PreparingProgress } from '../store/db.ts';
import { readJson } from './folders.ts';
import { ConfigError } from '../engine/errors.ts';
import { buildProfile, codebookTokens } from './codebook.ts';

const W = 'model/';
const A = 'lora/';
const O = 'optim/';

/** What the manifest's trainerState holds (JSON-safe). */
export interface StoredTrainerState {
  trainer: TrainerState;
  optimizerStep: number;
  modelConfig: ModelConfig;
  /** The item being trained when the checkpoint was taken and its exact position. */
  itemId: number | null;
  progress: ItemProgress | null;
  /**
   * Parameters (HF names) that held non-finite values when the weights were loaded, and how many: a damaged model's,
   * kept as they were. An export refuses a checkpoint whose weights have more.
   */
  nonFiniteAtLoad?: Record<string, number>;
}

export interface Session {
  modelRow: ModelRow;
  model: Qwen3Model;
  tokenizer: ChatTokenizer;
  profile: Profile;
  config: TrainConfig;
  optimizer?: AdamW;
  lora?: LoraAdapter;
  /** Cumulative state after the last step trained in this session (null before any). */
  state: TrainerState | null;
  /** Item whose file position `state` holds (it may be ahead of that item's checkpointed progress). */
  itemId: number | null;
  /** Checkpoint the session was loaded from. */
  fromCheckpoint: CheckpointRow | null;
  /** Non-finite values per parameter when loaded (a damaged model's, kept as they were; checkpoints refuse more). */
  nonFiniteAtLoad: Map<string, number>;
}

/** A stored checkpoint to open: its manifest and a reader of its tensors (filtered by name, streamed). */
export interface CheckpointSource {
  manifest: CheckpointRow;
  read(only: (name: string) => boolean): AsyncIterable<CheckpointTensor>;
}

export interface OpenOptions {
  /** Told how loading goes (weights loaded n of N MB, optimizer built ...). */
  onProgress?(p: PreparingProgress): void | Promise<void>;
  /** The person confirmed merging this checkpoint's LoRA adapter into the weights (LoRA turned off). */
  mergeAdapter?: boolean;
}

const PREFIX = { weight: W, adapter: A, optimizer: O } as const;

/** The snapshot's tensors under their checkpoint names, streamed one at a time from the device. */
export async function* snapshotTensors(snap: TrainSnapshot): AsyncGenerator<CheckpointTensor> {
  for await (const t of snap.tensors()) yield { name: PREFIX[t.kind] + t.name, dtype: 'float32', shape: t.shape, data: t.data };
}

export function storedState(snap: TrainSnapshot, itemId: number | null, progress: ItemProgress | null, nonFiniteAtLoad?: ReadonlyMap<string, number>): StoredTrainerState {
  const damaged = [...(nonFiniteAtLoad ?? [])].filter(([, n]) => n > 0);
  return {
    trainer: { ...snap.state }, optimizerStep: snap.optimizerStep, modelConfig: snap.modelConfig, itemId, progress,
    ...(damaged.length ? { nonFiniteAtLoad: Object.fromEntries(damaged) } : {}),
  };
}

export async function loadTokenizerFrom(folder: FolderReader): Promise<ChatTokenizer> {
  return loadTokenizer(await readJson(folder, 'tokenizer.json'), await readJson(folder, 'tokenizer_config.json'));
}

/**
 * Adds `tokens` to the tokenizer (known ones keep their ids) and grows the model's vocabulary when an id falls
 * outside it (new embedding rows start at the mean embedding). Returns the growth, or null when none was needed.
 */
export function addModelTokens(tokenizer: ChatTokenizer, model: Qwen3Model, tokens: readonly string[], opts: { lora?: boolean } = {}): { from: number; to: number } | null {
  if (tokens.length === 0) return null;
  const ids = tokenizer.addTokens(tokens);
  const need = Math.max(...ids) + 1;
  const from = model.config.vocabSize;
  if (need <= from) return null;
  if (opts.lora) {
    throw new ConfigError(
      `the model needs ${need - from} new token embeddings (regime-3 codes), which LoRA does not train: train its first regime3 file with lora.enabled false`,
      'lora.enabled',
      'false while the vocabulary grows',
    );
  }
  model.resizeVocab(need);
  return { from, to: need };
}

/**
 * (Re)builds the session's profile for `config` with the model's codebook; the tokenizer gains the codebook's
 * tokens (always, in their fixed order, whatever the profile) and the profile's, and the vocabulary grows if
 * needed, with the optimizer's moments. Growth under LoRA is a ConfigError: adapters do not train embeddings, so
 * the new rows would stay at their start value.
 */
export async function applyProfile(s: Pick<Session, 'modelRow' | 'model' | 'tokenizer' | 'profile' | 'config' | 'optimizer' | 'lora'>, config: TrainConfig): Promise<{ from: number; to: number } | null> {
  const profile = buildProfile(config, s.modelRow.codebook);
  const grew = addModelTokens(s.tokenizer, s.model, [...codebookTokens(s.modelRow.codebook), ...(profile.addedTokens?.() ?? [])], { lora: config.lora.enabled });
  s.profile = profile;
  s.config = config;
  if (grew && s.optimizer && !s.lora) s.optimizer.growSlots(s.model.weights); // new rows start without moments
  return grew;
}

const MB = 1024 * 1024;
const mb = (b: number) => Math.round(b / MB);

/** Progress of weights arriving: "Loading weights: n of N MB" (N from the checkpoint or the folder, when known). */
function weightProgress(total: number | undefined, opts: OpenOptions): (name: string, bytes: number) => Promise<void> {
  let done = 0;
  return async (_name, bytes) => {
    done += bytes;
    await opts.onProgress?.({ phase: 'loading_weights', message: `Loading weights: ${mb(done)}${total ? ` of ${mb(total)}` : ''} MB`, done, total });
  };
}

/** The tensors under `prefix` of a checkpoint, as the engine's named arrays (prefix removed), one at a time. */
async function* underPrefix(ckpt: CheckpointSource, prefix: string): AsyncGenerator<NamedArray> {
  for await (const t of ckpt.read((n) => n.startsWith(prefix))) yield { name: t.name.slice(prefix.length), shape: t.shape, data: t.data as Float32Array };
}

const describeLora = (l: Partial<LoraConfig> | undefined) => `rank ${l?.rank ?? '?'}, alpha ${l?.alpha ?? '?'} on ${(l?.targetModules ?? []).join(', ') || '?'}`;

/**
 * The checkpoint's LoRA adapter as the config wants it: loaded (LoRA on), merged into the weights (LoRA off and the
 * person confirmed), or a ConfigError saying what to do; never dropped without a word.
 */
async function openAdapter(model: Qwen3Model, ckpt: CheckpointSource, config: TrainConfig, opts: OpenOptions): Promise<LoraAdapter | undefined> {
  const tensors: NamedArray[] = [];
  for await (const a of underPrefix(ckpt, A)) tensors.push(a); // rank-r matrices: small
  if (tensors.length === 0) return undefined;
  const step = ckpt.manifest.step;
  const trained = (ckpt.manifest.trainConfig as Partial<TrainConfig>).lora;
  if (!config.lora.enabled) {
    if (!opts.mergeAdapter) {
      throw new ConfigError(
        `the checkpoint at step ${step} carries a LoRA adapter (${describeLora(trained)}) but lora.enabled is off: turn LoRA back on to continue training the adapter, or confirm merging it into the weights (Training config → LoRA)`,
        'lora.enabled',
        'true, or merge the adapter',
      );
    }
    if (!trained) throw new ConfigError(`the checkpoint at step ${step} carries a LoRA adapter but not its settings: it cannot be merged`, 'lora.enabled');
    const adapter = new LoraAdapter(model, { ...config.lora, ...trained, enabled: true }, config.seed);
    adapter.loadPeftTensors(tensors);
    adapter.merge();
    adapter.dispose();
    return undefined;
  }
  const lora = new LoraAdapter(model, config.lora, config.seed);
  try {
    lora.loadPeftTensors(tensors);
  } catch (e) {
    lora.dispose();
    throw new ConfigError(
      `the checkpoint at step ${step} has a LoRA adapter of ${describeLora(trained)}, which the config's lora settings (${describeLora(config.lora)}) do not fit (${(e as Error).message}): set them back to continue it`,
      'lora.rank',
      describeLora(trained),
    );
  }
  return lora;
}

/**
 * Builds the session for `modelRow`: from the checkpoint (weights, LoRA adapter, optimizer moments, trainer state)
 * when given, else from the base folder, streaming every tensor to the device. The tokenizer gains the codebook's
 * and the profile's added tokens; a model whose vocabulary does not hold them yet (a fresh regime3 model) grows once.
 */
export async function openSession(
  modelRow: ModelRow,
  config: TrainConfig,
  folders: { base: FolderReader; tokenizer: FolderReader },
  checkpoint: CheckpointSource | null,
  opts: OpenOptions = {},
): Promise<Session> {
  const tokenizer = await loadTokenizerFrom(folders.tokenizer);
  const profile = buildProfile(config, modelRow.codebook); // fails before any weights are loaded
  let model: Qwen3Model;
  let optimizer: AdamW | undefined;
  let lora: LoraAdapter | undefined;
  let st: StoredTrainerState | null = null;
  if (!checkpoint) {
    model = await loadModel(folders.base, (p) =>
      opts.onProgress?.({ phase: 'loading_weights', message: `Loading weights: ${mb(p.loadedBytes)} of ${mb(p.totalBytes)} MB`, done: p.loadedBytes, total: p.totalBytes }),
    );
  } else {
    st = checkpoint.manifest.trainerState as unknown as StoredTrainerState;
    const weightBytes = checkpoint.manifest.tensors.filter((t) => t.name.startsWith(W)).reduce((n, t) => n + t.byteLength, 0);
    const weights = async function* (): AsyncGenerator<[string, HfTensor]> {
      for await (const a of underPrefix(checkpoint, W)) yield [a.name, { shape: a.shape, data: a.data }];
    };
    model = await Qwen3Model.fromTensorStream(st.modelConfig ?? (await readModelConfig(folders.base)), weights(), weightProgress(weightBytes, opts));
    try {
      lora = await openAdapter(model, checkpoint, config, opts);
      await opts.onProgress?.({ phase: 'building_optimizer', message: 'Restoring the optimizer state' });
      optimizer = new AdamW({ beta1: config.beta1, beta2: config.beta2, eps: config.adamEps, weightDecay: config.weightDecay });
      const params = lora ? lora.weights : model.weights;
      for await (const slot of underPrefix(checkpoint, O)) {
        // Moments of what is no longer trained (a merged adapter's, or base weights' when LoRA was turned on) stay in the checkpoint.
        if (params.has(slot.name.replace(/\/[mv]$/, ''))) optimizer.importSlot(slot, params);
      }
      optimizer.setStep(st.optimizerStep);
    } catch (e) {
      lora?.dispose();
      optimizer?.dispose();
      model.dispose();
      throw e;
    }
  }
  await opts.onProgress?.({ phase: 'checking', message: 'Checking the weights for non-finite values' });
  const nonFiniteAtLoad = await nonFiniteCounts(model.weights);
  const s: Session = {
    modelRow, model, tokenizer, profile, config, optimizer, lora,
    state: st ? { ...st.trainer } : null, itemId: st?.itemId ?? null, fromCheckpoint: checkpoint?.manifest ?? null, nonFiniteAtLoad,
  };
  await applyProfile(s, config);
  return s;
}

/** Parameters that held non-finite values when loaded, as one warning sentence, or null. */
export function nonFiniteWarning(s: Pick<Session, 'nonFiniteAtLoad' | 'modelRow'>): string | null {
  const bad = [...s.nonFiniteAtLoad].filter(([, n]) => n > 0);
  if (bad.length === 0) return null;
  const list = bad.slice(0, 3).map(([name, n]) => `${name} (${n})`).join(', ');
  return `${s.modelRow.name} was loaded with non-finite values in ${bad.length} parameter${bad.length > 1 ? 's' : ''}: ${list}${bad.length > 3 ? ', …' : ''}. Steps that read them are skipped; check the model files.`;
}

export function disposeSession(s: Session | null): void {
  if (!s) return;
  s.lora?.dispose();
  s.optimizer?.dispose();
  s.model.dispose();
}
