/**
 * The trainer's in-memory session: the active model, its tokenizer and profile, the optimizer (and LoRA adapter)
 * carried from file to file, and the cumulative trainer state. Loaded from the model's latest complete checkpoint
 * (or its base folder on first start); converts the engine's TrainSnapshot to and from checkpoint tensors.
 */
import { loadModel, readModelConfig, type FolderReader } from '../engine/checkpoint.ts';
import { Qwen3Model, type HfTensor } from '../engine/model.ts';
import { AdamW, type NamedArray } from '../engine/optimizer.ts';
import { LoraAdapter } from '../engine/lora.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import type { TrainConfig } from '../engine/config/train-config.ts';
import type { TrainerState, TrainSnapshot } from '../engine/train.ts';
import type { ChatTokenizer, ModelConfig } from '../engine/types.ts';
import { getProfile, type Profile } from '../profiles/index.ts';
import type { CheckpointTensor } from '../store/checkpoints.ts';
import type { CheckpointRow, ItemProgress, ModelRow } from '../store/db.ts';
import { readJson } from './folders.ts';

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

export function snapshotTensors(snap: TrainSnapshot): CheckpointTensor[] {
  const f = (prefix: string, a: NamedArray): CheckpointTensor => ({ name: prefix + a.name, dtype: 'float32', shape: a.shape, data: a.data });
  return [...snap.weights.map((a) => f(W, a)), ...(snap.adapter ?? []).map((a) => f(A, a)), ...snap.optimizer.slots.map((a) => f(O, a))];
}

export function storedState(snap: TrainSnapshot, itemId: number | null, progress: ItemProgress | null): StoredTrainerState {
  return { trainer: { ...snap.state }, optimizerStep: snap.optimizer.step, modelConfig: snap.modelConfig, itemId, progress };
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
 * Builds the session for `modelRow`: from the checkpoint (weights, optimizer, LoRA, trainer state) when given,
 * else from the base folder. The tokenizer gains the profile's added tokens.
 */
export async function openSession(
  modelRow: ModelRow,
  config: TrainConfig,
  folders: { base: FolderReader; tokenizer: FolderReader },
  checkpoint: { manifest: CheckpointRow; tensors: CheckpointTensor[] } | null,
): Promise<Session> {
  const tokenizer = await loadTokenizerFrom(folders.tokenizer);
  const profile = getProfile(config.profile, { seed: config.seed });
  const added = profile.addedTokens?.() ?? [];
  if (added.length) tokenizer.addTokens(added);
  if (!checkpoint) {
    const model = await loadModel(folders.base);
    return { modelRow, model, tokenizer, profile, config, state: null, itemId: null, fromCheckpoint: null };
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
  return { modelRow, model, tokenizer, profile, config, optimizer, lora, state: { ...st.trainer }, itemId: st.itemId, fromCheckpoint: checkpoint.manifest };
}

export function disposeSession(s: Session | null): void {
  if (!s) return;
  s.lora?.dispose();
  s.optimizer?.dispose();
  s.model.dispose();
}
