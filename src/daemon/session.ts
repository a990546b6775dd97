/**
 * The trainer's in-memory session: the active model, its tokenizer and profile, the optimizer (and LoRA adapter)
 * carried from file to file, and the cumulative trainer state. Loaded from the model's latest complete checkpoint
 * (or its base folder on first start); converts the engine's TrainSnapshot to (streamed) and from checkpoint tensors.
 */
import { loadModel, readModelConfig, type FolderReader } from '../engine/checkpoint.ts';
import { Qwen3Model, type HfTensor } from '../engine/model.ts';
import { AdamW, type NamedArray } from '../engine/optimizer.ts';
import { LoraAdapter } from '../engine/lora.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import type { TrainConfig } from '../engine/config/train-config.ts';
import type { TrainerState, TrainSnapshot } from '../engine/train.ts';
import type { ChatTokenizer, ModelConfig } from '../engine/types.ts';
import type { Profile } from '../profiles/index.ts';
import type { CheckpointTensor } from '../store/checkpoints.ts';
import type { CheckpointRow, ItemProgress, ModelRow } from '../store/db.ts';
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
}

const PREFIX = { weight: W, adapter: A, optimizer: O } as const;

/** The snapshot's tensors under their checkpoint names, streamed one at a time from the device. */
export async function* snapshotTensors(snap: TrainSnapshot): AsyncGenerator<CheckpointTensor> {
  for await (const t of snap.tensors()) yield { name: PREFIX[t.kind] + t.name, dtype: 'float32', shape: t.shape, data: t.data };
}

export function storedState(snap: TrainSnapshot, itemId: number | null, progress: ItemProgress | null): StoredTrainerState {
  return { trainer: { ...snap.state }, optimizerStep: snap.optimizerStep, modelConfig: snap.modelConfig, itemId, progress };
}

export async function loadTokenizerFrom(folder: FolderReader): Promise<ChatTokenizer> {
  return loadTokenizer(await readJson(folder, 'tokenizer.json'), await readJson(folder, 'tokenizer_config.json'));
}

function byPrefix(tensors: CheckpointTensor[], prefix: string): NamedArray[] {
  return tensors
    .filter((t) => t.name.startsWith(prefix))
    .map((t) => ({ name: t.name.slice(prefix.length), shape: t.shape, data: t.data as Float32Array }));
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

/** Zero-pads a rank-2 optimizer slot to `shape` (one axis grown: new vocabulary rows start without moments). */
export function padSlot(a: NamedArray, shape: readonly number[]): NamedArray {
  if (a.shape.join(',') === shape.join(',')) return a;
  if (a.shape.length !== 2 || shape.length !== 2 || shape[0] < a.shape[0] || shape[1] < a.shape[1]) {
    throw new Error(`cannot grow optimizer slot ${a.name} from [${a.shape}] to [${shape}]`);
  }
  const [r0, c0] = a.shape;
  const c1 = shape[1];
  const data = new Float32Array(shape[0] * c1);
  for (let r = 0; r < r0; r++) data.set(a.data.subarray(r * c0, (r + 1) * c0), r * c1);
  return { name: a.name, shape: [...shape], data };
}

/** After the vocabulary grew: the optimizer's moments re-made with zero rows for the new embeddings. */
async function growOptimizer(s: Pick<Session, 'model' | 'optimizer' | 'config'>): Promise<void> {
  const old = s.optimizer!;
  const state = await old.exportState();
  const params = s.model.weights;
  const slots = state.slots.map((a) => {
    const p = params.get(a.name.replace(/\/[mv]$/, ''));
    return p ? padSlot(a, p.shape) : a;
  });
  const next = new AdamW(old.opts);
  next.importState({ step: state.step, slots }, params);
  old.dispose();
  s.optimizer = next;
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
  if (grew && s.optimizer && !s.lora) await growOptimizer(s);
  return grew;
}

/**
 * Builds the session for `modelRow`: from the checkpoint (weights, optimizer, LoRA, trainer state) when given,
 * else from the base folder. The tokenizer gains the codebook's and the profile's added tokens; a model whose
 * vocabulary does not hold them yet (a fresh regime3 model) grows once.
 */
export async function openSession(
  modelRow: ModelRow,
  config: TrainConfig,
  folders: { base: FolderReader; tokenizer: FolderReader },
  checkpoint: { manifest: CheckpointRow; tensors: CheckpointTensor[] } | null,
): Promise<Session> {
  const tokenizer = await loadTokenizerFrom(folders.tokenizer);
  const profile = buildProfile(config, modelRow.codebook); // fails before any weights are loaded
  if (!checkpoint) {
    const model = await loadModel(folders.base);
    const s: Session = { modelRow, model, tokenizer, profile, config, state: null, itemId: null, fromCheckpoint: null };
    await applyProfile(s, config);
    return s;
  }
  const st = checkpoint.manifest.trainerState as unknown as StoredTrainerState;
  const weights = new Map<string, HfTensor>(byPrefix(checkpoint.tensors, W).map((a) => [a.name, { shape: a.shape, data: a.data }]));
  const model = Qwen3Model.fromTensors(st.modelConfig ?? (await readModelConfig(folders.base)), weights);
  const adapterTensors = byPrefix(checkpoint.tensors, A);
  let lora: LoraAdapter | undefined;
  if (adapterTensors.length > 0 && config.lora.enabled) {
    lora = new LoraAdapter(model, config.lora, config.seed);
    lora.loadPeftTensors(adapterTensors);
  }
  const optimizer = new AdamW({ beta1: config.beta1, beta2: config.beta2, eps: config.adamEps, weightDecay: config.weightDecay });
  const slots = byPrefix(checkpoint.tensors, O);
  if (slots.length > 0) optimizer.importState({ step: st.optimizerStep, slots }, lora ? lora.weights : model.weights);
  const s: Session = { modelRow, model, tokenizer, profile, config, optimizer, lora, state: { ...st.trainer }, itemId: st.itemId, fromCheckpoint: checkpoint.manifest };
  await applyProfile(s, config);
  return s;
}

export function disposeSession(s: Session | null): void {
  if (!s) return;
  s.lora?.dispose();
  s.optimizer?.dispose();
  s.model.dispose();
}
