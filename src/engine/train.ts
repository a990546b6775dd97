/**
 * The trainer: `runJob(job, hooks)` runs optimizer steps over one file's examples (gradient accumulation,
 * AdamW, global-norm clipping, a pure lr(step) schedule, chunked LM-head loss), calls hooks at step, log,
 * eval and checkpoint boundaries, and returns plain, serialisable state so the next file or a resumed run
 * continues exactly. Reads the device only at log, eval and checkpoint intervals.
 */
import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.ts';
import type { CausalLM, ExampleSource, StepMetrics, StepDecision, ModelConfig, TrainBatch, LinearHook } from './types.ts';
import { sampleInterval, type TrainConfig } from './config/train-config.ts';
import { AdamW, finiteGate, globalNormClip, type NamedArray, type OptimizerState } from './optimizer.ts';
import { LoraAdapter } from './lora.ts';
import type { HfTensor } from './model.ts';
import { collate, planBatches } from './data/collate.ts';
import { lmHeadLoss, lmHeadLossValue, maxChunkTokens } from './loss.ts';
import { lr } from './schedule.ts';
import { Rng, rngFor } from './rng.ts';
import { ConfigError, TrainingError } from './errors.ts';
import { setFusedKernels } from './kernels/switch.ts';
import { installPooledUploads } from './kernels/pooled-upload.ts';
import type { WebGpuBackendView } from './kernels/webgpu.ts';

// ---------------------------------------------------------------- job, hooks, state, snapshot, result

/** Where a job is in its file and in the whole run. Plain data: JSON- and structured-clone-safe. */
export interface TrainerState {
  /** Optimizer steps taken, cumulative across files (skipped non-finite steps count too). */
  globalStep: number;
  /** Optimizer steps taken in this file. */
  fileStep: number;
  /** Optimizer steps this file has in total. */
  fileSteps: number;
  /** Micro-batches of the current epoch's plan already consumed. */
  dataPosition: number;
  /** Epoch (pass over the file) the plan is in; the plan is a pure function of (seed, epoch). */
  epoch: number;
  /** Rng state (LoRA dropout). */
  rngState: number;
  /** Trained target tokens seen in this run, cumulative across files. */
  tokensSeen: number;
  /** Steps skipped because the loss or a gradient was not finite, cumulative. */
  nonFiniteSkipped: number;
  /** Non-finite steps in a row at the last read. */
  consecutiveNonFinite: number;
  /** Steps of this file skipped as non-finite (a file whose every step was skipped fails; states from before: absent). */
  fileNonFiniteSkipped?: number;
  /** The data-order fields this file started with: its plan is a function of them, so a resume must use the same. */
  dataOrder?: DataOrder;
  /** Lowest validation loss seen so far, null before the first evaluation. */
  bestValLoss: number | null;
}

/** The config fields that decide a file's plan of micro-batches (and the tokenized lengths it is made of). */
export interface DataOrder {
  batchSize: number;
  gradAccumSteps: number;
  seed: number;
  pack: boolean;
  bucketByLength: boolean;
  maxLength: number;
}
const DATA_ORDER_KEYS = ['batchSize', 'gradAccumSteps', 'seed', 'pack', 'bucketByLength', 'maxLength'] as const;

export function dataOrderOf(cfg: TrainConfig): DataOrder {
  return Object.fromEntries(DATA_ORDER_KEYS.map((k) => [k, cfg[k]])) as unknown as DataOrder;
}

/** `cfg` with a file's recorded data-order fields (a resumed file keeps the order it started with). */
export function withDataOrder(cfg: TrainConfig, order: DataOrder | undefined): TrainConfig {
  return order ? { ...cfg, ...order } : cfg;
}

/** The data-order fields where `cfg` differs from `order`, as "field a → b" phrases. */
export function dataOrderChanges(order: DataOrder, cfg: TrainConfig): string[] {
  return DATA_ORDER_KEYS.filter((k) => order[k] !== cfg[k]).map((k) => `${k} ${order[k]} → ${cfg[k]}`);
}

/** A model the trainer can snapshot: CausalLM plus the export to Hugging Face layout (Qwen3Model has it). */
export type TrainableModel = CausalLM & { hfTensors(): AsyncIterable<[string, HfTensor]> };

export interface TrainJob {
  model: TrainableModel;
  /** The file's training examples (already transformed by the profile and tokenized). */
  source: ExampleSource;
  /** Held-out examples for the validation loss every `config.evalSteps`. */
  validation?: ExampleSource;
  /**
   * The source is already in training order (a dataset mix, daemon/mix-order.ts): micro-batches are its consecutive
   * examples, `batchSize` at a time, the same every epoch; no shuffle or length buckets across them.
   */
  inOrder?: boolean;
  config: TrainConfig;
  /** Token id used to pad rows (`<|endoftext|>`). */
  padTokenId: number;
  /** Resume: the state of a snapshot of this file (weights and optimizer restored by the caller). */
  state?: TrainerState;
  /** Carried across files (and restored from a snapshot with `importState`); created when absent. */
  optimizer?: AdamW;
  /** With `config.lora.enabled`: the adapter carried across files; created when absent. */
  lora?: LoraAdapter;
  /** Optimizer steps for this file; else `epochs` (or config.epochs) passes over it. */
  steps?: number;
  epochs?: number;
  /** Global step the file starts at when there is no `state` (cumulative across files). */
  startGlobalStep?: number;
  /** Tokens seen and non-finite steps skipped before this file when there is no `state` (cumulative counters). */
  startTokensSeen?: number;
  startNonFiniteSkipped?: number;
  /** Fault injection for tests: when it says true for a global step (1-based), that step's loss is made NaN on the device. */
  injectNonFinite?: (globalStep: number) => boolean;
  /**
   * Non-finite values per parameter (nonFiniteCounts) when the weights were loaded; a checkpoint is refused when a
   * parameter has more. Measured at the job's start when absent.
   */
  nonFiniteBaseline?: ReadonlyMap<string, number>;
}

/**
 * What a log interval reports: StepMetrics with the loss and grad norm of its last step read from the device;
 * msPerStep and tokensPerSecond are over the whole interval (the device has drained, so they are real).
 */
export interface LogMetrics extends StepMetrics {
  loss: number;
  gradNorm: number;
  /** Steps skipped as non-finite, cumulative over the run, and in this file. */
  nonFiniteSkipped: number;
  fileNonFiniteSkipped: number;
  /** Steps and trained tokens since the previous log. */
  intervalSteps: number;
  intervalTokens: number;
}

export interface EvalResult {
  step: number;
  valLoss: number;
  /** Trained target tokens the loss is averaged over. */
  tokens: number;
  ms: number;
}

/** One tensor of a snapshot: a base weight (HF name and layout), a LoRA tensor (PEFT name) or an optimizer slot. */
export interface SnapshotTensor extends NamedArray {
  kind: 'weight' | 'adapter' | 'optimizer';
}

/**
 * One checkpoint: enough to resume exactly, and to export a Hugging Face folder. The tensors are streamed from the
 * device one at a time (a 0.6B model's weights and moments are ~7 GB), so read them inside onCheckpoint.
 */
export interface TrainSnapshot {
  step: number;
  state: TrainerState;
  config: TrainConfig;
  modelConfig: ModelConfig;
  /** The optimizer's OptimizerState.step. */
  optimizerStep: number;
  /** Base weights (HF layout, [out, in] for linears), then LoRA tensors (HF layout: A [r, in], B [out, r]) when
   * LoRA is enabled, then the optimizer slots; each read when asked for. Data may share device buffers: do not modify. */
  tensors(): AsyncGenerator<SnapshotTensor>;
}

/** A snapshot with all its tensors in memory (small models and tests only). */
export interface SnapshotData {
  step: number;
  state: TrainerState;
  config: TrainConfig;
  modelConfig: ModelConfig;
  weights: NamedArray[];
  adapter?: NamedArray[];
  optimizer: OptimizerState;
}

/** Reads every tensor of `snap` into memory (copies), grouped as weights, adapter and optimizer state. */
export async function readSnapshot(snap: TrainSnapshot): Promise<SnapshotData> {
  const weights: NamedArray[] = [], adapter: NamedArray[] = [], slots: NamedArray[] = [];
  let hasAdapter = false;
  for await (const t of snap.tensors()) {
    const a = { name: t.name, shape: t.shape, data: new Float32Array(t.data) };
    if (t.kind === 'weight') weights.push(a);
    else if (t.kind === 'adapter') (hasAdapter = true), adapter.push(a);
    else slots.push(a);
  }
  const { step, state, config, modelConfig } = snap;
  return { step, state, config, modelConfig, weights, adapter: hasAdapter ? adapter : undefined, optimizer: { step: snap.optimizerStep, slots } };
}

/** Long phases between steps; the daemon beats its heartbeat around them. */
export type TrainPhase = 'eval' | 'sample' | 'checkpoint';

export interface TrainHooks {
  /** Before a long phase between steps (validation, sample, checkpoint). */
  onPhase?(phase: TrainPhase): void | Promise<void>;
  /** Before every optimizer step; 'stop' ends the job at this boundary. Pause by awaiting here. */
  beforeStep?(state: Readonly<TrainerState>): StepDecision | Promise<StepDecision>;
  /** After every step; `loss`/`gradNorm` are null except at log intervals. */
  onStep?(m: StepMetrics): void | Promise<void>;
  /** Every `config.logEvery` steps and at the last step. */
  onLog?(m: LogMetrics): void | Promise<void>;
  /** Every `config.evalSteps` steps when the job has a validation source. */
  onEval?(e: EvalResult): void | Promise<void>;
  /** Every `config.sampleEvery` (see sampleInterval) steps, between steps: generate a sample answer here. */
  onSample?(state: Readonly<TrainerState>): void | Promise<void>;
  /** Every `config.saveSteps` steps and when the job ends (done or stopped). */
  onCheckpoint?(snap: TrainSnapshot): void | Promise<void>;
}

export interface JobResult {
  /** 'completed': all the file's steps ran; 'stopped': beforeStep said stop. */
  status: 'completed' | 'stopped';
  state: TrainerState;
  optimizer: AdamW;
  lora?: LoraAdapter;
  /** Loss of the last log interval, null when none was read. */
  lastLoss: number | null;
}

/**
 * Count of non-finite values per parameter, read from the device in one go. A damaged model may arrive with some
 * (a warning); a checkpoint is refused when a count has grown past what the weights held when loaded.
 */
export async function nonFiniteCounts(params: ReadonlyMap<string, tf.Tensor>): Promise<Map<string, number>> {
  const names = [...params.keys()];
  if (names.length === 0) return new Map();
  const counts = tf.tidy(() => tf.stack(names.map((n) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(params.get(n)!)), 'float32')))));
  const data = await counts.data();
  counts.dispose();
  return new Map(names.map((n, i) => [n, data[i]]));
}

/** Parameters whose non-finite count exceeds the baseline, as "name (n values)" phrases. */
export function newlyNonFinite(now: ReadonlyMap<string, number>, baseline: ReadonlyMap<string, number>): string[] {
  return [...now].filter(([n, c]) => c > (baseline.get(n) ?? 0)).map(([n, c]) => `${n} (${c - (baseline.get(n) ?? 0)} values)`);
}

// ---------------------------------------------------------------- data order

/** The micro-batches (example indices) of one epoch: a pure function of (seed, epoch). */
function epochPlan(lengths: number[], cfg: TrainConfig, epoch: number, inOrder = false): number[][] {
  if (inOrder) return Array.from({ length: Math.ceil(lengths.length / cfg.batchSize) }, (_, b) => Array.from({ length: Math.min(cfg.batchSize, lengths.length - b * cfg.batchSize) }, (_, i) => b * cfg.batchSize + i));
  const seed = rngFor(cfg.seed, epoch).state;
  return planBatches(lengths, { batchSize: cfg.batchSize, seed, bucketByLength: cfg.bucketByLength, pack: cfg.pack, maxLength: cfg.maxLength });
}

function toInputs(b: TrainBatch) {
  const shape: [number, number] = [b.batchSize, b.seqLen];
  return {
    inputIds: tf.tensor2d(b.inputIds, shape, 'int32'),
    positionIds: tf.tensor2d(b.positionIds, shape, 'int32'),
    segmentIds: tf.tensor2d(b.segmentIds, shape, 'int32'),
  };
}

/**
 * Loss of one batch as Σ / denominator (chunked head); call inside a tidy or variableGrads. With LoRA the base weights
 * and the head are frozen: they enter as constants, so no gradient is computed for them (LoRA costs LoRA).
 */
function batchLoss(
  model: CausalLM, b: TrainBatch, cfg: TrainConfig, denominator: number, hook?: LinearHook, grads = true,
  recompute?: { params: ReadonlyMap<string, tf.Variable> },
): tf.Scalar {
  const frozen = cfg.lora.enabled;
  const h = model.hidden(toInputs(b), { linearHook: hook, recompute, frozenBase: frozen }); // [B, T, H]
  const flat = tf.reshape(h, [b.batchSize * b.seqLen, h.shape[2]]) as tf.Tensor2D;
  return (grads ? lmHeadLoss : lmHeadLossValue)(flat, model.headWeight(), b.targets, { chunkTokens: cfg.lmHeadChunkTokens, denominator, frozenHead: frozen });
}

/** Token ids outside the model's vocabulary would be silently wrong (gather does not check): a data error. */
function checkIds(ids: Int32Array, vocab: number, index: number): void {
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] < 0 || ids[t] >= vocab) {
      throw new TrainingError(`example ${index}: token id ${ids[t]} at position ${t} is outside the model's vocabulary [0, ${vocab}); the tokenizer and model do not match`, 'data');
    }
  }
}

const realTokens = (b: TrainBatch) => b.segmentIds.reduce((n, s) => n + (s !== 0 ? 1 : 0), 0);

// ---------------------------------------------------------------- evaluation

/** Mean loss over every target of `source` (file order, no dropout); reads the device once. */
export async function evaluate(model: CausalLM, source: ExampleSource, cfg: TrainConfig, padTokenId: number, lora?: LoraAdapter): Promise<{ loss: number; tokens: number }> {
  const lengths = Array.from({ length: source.size }, (_, i) => source.get(i).ids.length);
  const plan = planBatches(lengths, { batchSize: cfg.batchSize, seed: 0, shuffle: false, bucketByLength: false, pack: cfg.pack, maxLength: cfg.maxLength });
  const hook = lora && !lora.isMerged ? lora.hook() : undefined;
  let sum: tf.Tensor = tf.scalar(0);
  let tokens = 0;
  for (const idx of plan) {
    const b = collate(idx.map((i) => source.get(i)), { pack: cfg.pack, maxLength: cfg.maxLength, padTokenId });
    if (b.numTargets === 0) continue;
    const next = tf.tidy(() => tf.add(sum, batchLoss(model, b, cfg, 1, hook, false)));
    sum.dispose();
    sum = next;
    tokens += b.numTargets;
  }
  const total = (await sum.data())[0];
  sum.dispose();
  return { loss: tokens > 0 ? total / tokens : NaN, tokens };
}

// ---------------------------------------------------------------- the job

/** Optimizer steps a file gets: `steps`, else ceil(epochs · micro-batches / accumulation). */
export function fileStepsFor(microBatchesPerEpoch: number, cfg: TrainConfig, steps?: number, epochs?: number): number {
  if (steps !== undefined) {
    if (!Number.isInteger(steps) || steps < 1) throw new TrainingError(`steps must be a positive integer, got ${steps}`, 'config');
    return steps;
  }
  return Math.max(1, Math.ceil(((epochs ?? cfg.epochs) * microBatchesPerEpoch) / cfg.gradAccumSteps));
}

/**
 * One optimizer step: forward + backward per micro-batch with gradients summed (each loss is already divided
 * by the step's target count), global-norm clip, AdamW gated on finiteness. Returns device scalars, reads nothing.
 */
function optimizerStep(
  model: CausalLM, params: Map<string, tf.Variable>, batches: TrainBatch[], cfg: TrainConfig, denominator: number,
  rate: number, optimizer: AdamW, hook?: LinearHook, poison = false,
): Pending {
  const keyOf = new Map([...params].map(([k, v]) => [v.name, k]));
  let grads: Record<string, tf.Tensor> = {};
  let loss: tf.Tensor = tf.scalar(0);
  // Gradient checkpointing recomputes each layer in backprop and differentiates it with respect to what is trained.
  const recompute = cfg.gradientCheckpointing ? { params } : undefined;
  try {
    for (const b of batches) {
      const r = tf.variableGrads(() => batchLoss(model, b, cfg, denominator, hook, true, recompute), [...params.values()]);
      const prev = grads;
      grads = {};
      for (const [vn, g] of Object.entries(r.grads)) {
        const k = keyOf.get(vn)!;
        grads[k] = prev[k] ? tf.add(prev[k], g) : g;
        if (prev[k]) tf.dispose([prev[k], g]);
      }
      const l = tf.add(loss, r.value);
      tf.dispose([loss, r.value]);
      loss = l;
    }
    if (poison) {
      const l = tf.mul(loss, NaN);
      loss.dispose();
      loss = l;
    }
    const { norm, scale } = globalNormClip(Object.values(grads), cfg.maxGradNorm);
    const ok = finiteGate(loss as tf.Scalar, norm);
    try {
      optimizer.apply(params, grads, rate, ok, scale);
      return tf.stack([loss, norm, ok]) as tf.Tensor1D;
    } finally {
      tf.dispose([scale, norm, ok]);
    }
  } finally {
    loss.dispose();
    tf.dispose(Object.values(grads));
  }
}

/** Weights (HF layout), adapter and optimizer moments, streamed from the device when the hook reads them. */
async function snapshot(job: TrainJob, state: TrainerState, optimizer: AdamW, lora?: LoraAdapter): Promise<TrainSnapshot> {
  const model = job.model;
  return {
    step: state.globalStep,
    state: { ...state },
    config: job.config,
    modelConfig: model.config,
    optimizerStep: await optimizer.readStep(),
    async *tensors() {
      for await (const [name, t] of model.hfTensors()) yield { kind: 'weight', name, shape: t.shape, data: t.data };
      if (lora) for (const a of await lora.toPeftTensors()) yield { kind: 'adapter', ...a }; // small: rank-r matrices
      for await (const a of optimizer.slotArrays()) yield { kind: 'optimizer', ...a };
    },
  };
}

/** [loss, grad norm, 1 if the update was applied else 0] of one step, still on the device. */
type Pending = tf.Tensor1D;

/** A fresh file position, or the resumed one; a resume under other data-order fields would skip or repeat examples. */
function startState(job: TrainJob, planLength: number): TrainerState {
  const cfg = job.config;
  if (job.state) {
    const changes = job.state.dataOrder ? dataOrderChanges(job.state.dataOrder, cfg) : [];
    if (changes.length > 0) {
      throw new TrainingError(
        `this file was started with other data-order settings (${changes.join(', ')}); resuming it so would skip or repeat examples: resume it with the settings it started with (withDataOrder)`,
        'config',
      );
    }
    return { fileNonFiniteSkipped: 0, ...job.state, dataOrder: dataOrderOf(cfg) };
  }
  return {
    globalStep: job.startGlobalStep ?? 0,
    fileStep: 0,
    fileSteps: fileStepsFor(planLength, cfg, job.steps, job.epochs),
    dataPosition: 0,
    epoch: 0,
    rngState: rngFor(cfg.seed, 0x5eed).state,
    tokensSeen: job.startTokensSeen ?? 0,
    nonFiniteSkipped: job.startNonFiniteSkipped ?? 0,
    consecutiveNonFinite: 0,
    fileNonFiniteSkipped: 0,
    bestValLoss: null,
    dataOrder: dataOrderOf(cfg),
  };
}

/** lmHeadChunkTokens × vocabulary indexes one chunk's logits with int32: refuse a chunk past that (names the field). */
export function checkChunkLimit(cfg: Pick<TrainConfig, 'lmHeadChunkTokens'>, vocabSize: number): void {
  const max = maxChunkTokens(vocabSize);
  if (cfg.lmHeadChunkTokens > max) {
    throw new ConfigError(
      `config field "lmHeadChunkTokens" (${cfg.lmHeadChunkTokens}) × the vocabulary (${vocabSize}) overflows the int32 index of one chunk of logits: use at most ${max}`,
      'lmHeadChunkTokens',
      `at most ${max} for a vocabulary of ${vocabSize}`,
    );
  }
}

/**
 * Trains `job.source` for its steps (or epochs), continuing `job.state` when given. Stops early when beforeStep
 * says 'stop' (a checkpoint is still taken). A non-finite step changes nothing and is counted; `maxConsecutiveNonFinite`
 * of them in a row, or a file whose every step was skipped, is a TrainingError 'non_finite'. Also throws
 * TrainingError 'data' and 'config', and ConfigError for a chunk size past the index limit.
 */
export async function runJob(job: TrainJob, hooks: TrainHooks = {}): Promise<JobResult> {
  const { model, source, config: cfg } = job;
  if (source.size === 0) throw new TrainingError('the file has no training examples', 'data');
  checkChunkLimit(cfg, model.config.vocabSize);
  setFusedKernels(cfg.fusedKernels);
  if (tf.getBackend() === 'webgpu') installPooledUploads(tf.backend() as unknown as WebGpuBackendView); // no buffer per upload
  const lengths = Array.from({ length: source.size }, (_, i) => source.get(i).ids.length);
  let plan = epochPlan(lengths, cfg, job.state?.epoch ?? 0, job.inOrder);
  const state = startState(job, plan.length);
  const rng = new Rng(state.rngState);
  const lora = cfg.lora.enabled ? (job.lora ?? new LoraAdapter(model, cfg.lora, cfg.seed)) : undefined;
  const params = lora ? lora.weights : model.weights; // what gets trained
  const optimizer = job.optimizer ?? new AdamW({ beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.adamEps, weightDecay: cfg.weightDecay });
  const baseline = job.nonFiniteBaseline ?? (await nonFiniteCounts(params));
  const sampleEvery = sampleInterval(cfg);

  const nextMicroBatch = (): number[] => {
    if (state.dataPosition >= plan.length) {
      state.epoch++;
      state.dataPosition = 0;
      plan = epochPlan(lengths, cfg, state.epoch, job.inOrder);
    }
    return plan[state.dataPosition++];
  };

  let pending: Pending[] = [];
  let lastLoss: number | null = null;
  let interval = { start: performance.now(), tokens: 0 };
  let firstRead = false;
  /** Reads [loss, norm, ok] of every step since the last read in one transfer; counts skipped steps. */
  const drain = async (): Promise<{ loss: number; norm: number; skipped: boolean; steps: number } | null> => {
    if (pending.length === 0) return null;
    const all = tf.concat(pending);
    tf.dispose(pending);
    const steps = pending.length;
    pending = [];
    const vals = await all.data();
    all.dispose();
    for (let i = 0; i < steps; i++) {
      if (vals[3 * i + 2] === 1) {
        state.consecutiveNonFinite = 0;
        continue;
      }
      state.nonFiniteSkipped++;
      state.fileNonFiniteSkipped = (state.fileNonFiniteSkipped ?? 0) + 1;
      state.consecutiveNonFinite++;
      if (state.consecutiveNonFinite >= cfg.maxConsecutiveNonFinite) {
        throw new TrainingError(`training stopped: ${state.consecutiveNonFinite} steps in a row had a non-finite loss or gradient (limit maxConsecutiveNonFinite = ${cfg.maxConsecutiveNonFinite}); lower the learning rate or check the data`, 'non_finite');
      }
    }
    const k = 3 * (steps - 1);
    return { loss: vals[k], norm: vals[k + 1], skipped: vals[k + 2] !== 1, steps };
  };
  let checkpointedAt = -1; // the global step of this job's last checkpoint: a stop right after it writes no copy
  const checkpoint = async () => {
    await drain();
    if (!hooks.onCheckpoint || checkpointedAt === state.globalStep) return;
    await hooks.onPhase?.('checkpoint');
    const grown = newlyNonFinite(await nonFiniteCounts(params), baseline);
    if (grown.length > 0) {
      throw new TrainingError(`no checkpoint written: parameters that were finite when loaded are not any more: ${grown.slice(0, 3).join(', ')}${grown.length > 3 ? ` and ${grown.length - 3} more` : ''}`, 'non_finite');
    }
    await hooks.onCheckpoint(await snapshot(job, state, optimizer, lora));
    checkpointedAt = state.globalStep;
  };

  let status: JobResult['status'] = 'completed';
  try {
    while (state.fileStep < state.fileSteps) {
      if (hooks.beforeStep && (await hooks.beforeStep(state)) === 'stop') {
        status = 'stopped';
        break;
      }
      const t0 = performance.now();
      const batches: TrainBatch[] = [];
      for (let k = 0; k < cfg.gradAccumSteps; k++) {
        const idx = nextMicroBatch();
        const examples = idx.map((i) => source.get(i));
        examples.forEach((e, j) => checkIds(e.ids, model.config.vocabSize, idx[j]));
        batches.push(collate(examples, { pack: cfg.pack, maxLength: cfg.maxLength, padTokenId: job.padTokenId }));
      }
      const denominator = Math.max(1, batches.reduce((n, b) => n + b.numTargets, 0));
      const rate = lr(state, cfg);
      const dropoutSeed = lora && cfg.lora.dropout > 0 ? rng.int(0, 0x7fffffff) : undefined;
      const hook = lora?.hook(dropoutSeed);

      pending.push(optimizerStep(model, params, batches, cfg, denominator, rate, optimizer, hook, job.injectNonFinite?.(state.globalStep + 1) ?? false));

      state.globalStep++;
      state.fileStep++;
      state.rngState = rng.state;
      const tokens = batches.reduce((n, b) => n + realTokens(b), 0);
      state.tokensSeen += tokens;
      interval.tokens += tokens;
      const last = state.fileStep === state.fileSteps;
      // Between logs nothing is read, so the time is only the enqueueing: speed is measured over a log interval.
      const metrics: StepMetrics = {
        step: state.globalStep, fileStep: state.fileStep, fileSteps: state.fileSteps, loss: null, lr: rate, gradNorm: null,
        tokens, msPerStep: performance.now() - t0, tokensPerSecond: 0, skipped: false,
      };
      let log: LogMetrics | null = null;
      // The job's first step is read too: it says the kernels compiled and a step really ran on the device.
      if (state.globalStep % cfg.logEvery === 0 || last || !firstRead) {
        firstRead = true;
        const read = (await drain())!;
        const now = performance.now();
        const ms = Math.max(now - interval.start, 1e-3);
        Object.assign(metrics, { loss: read.loss, gradNorm: read.norm, skipped: read.skipped, msPerStep: ms / read.steps, tokensPerSecond: (interval.tokens / ms) * 1000 });
        log = {
          ...metrics, loss: read.loss, gradNorm: read.norm, nonFiniteSkipped: state.nonFiniteSkipped,
          fileNonFiniteSkipped: state.fileNonFiniteSkipped ?? 0, intervalSteps: read.steps, intervalTokens: interval.tokens,
        };
        interval = { start: now, tokens: 0 };
        lastLoss = read.loss;
      }
      await hooks.onStep?.(metrics);
      if (log) await hooks.onLog?.(log);
      if (job.validation && job.validation.size > 0 && cfg.evalSteps > 0 && state.globalStep % cfg.evalSteps === 0) {
        await hooks.onPhase?.('eval');
        const e0 = performance.now();
        const ev = await evaluate(model, job.validation, cfg, job.padTokenId, lora);
        if (state.bestValLoss === null || ev.loss < state.bestValLoss) state.bestValLoss = ev.loss;
        await hooks.onEval?.({ step: state.globalStep, valLoss: ev.loss, tokens: ev.tokens, ms: performance.now() - e0 });
      }
      if (hooks.onSample && state.globalStep % sampleEvery === 0) {
        await hooks.onPhase?.('sample');
        await hooks.onSample(state);
      }
      if (cfg.saveSteps > 0 && state.globalStep % cfg.saveSteps === 0 && !last) await checkpoint();
    }
    await drain();
    if (status === 'completed' && (state.fileNonFiniteSkipped ?? 0) >= state.fileSteps) {
      throw new TrainingError(`every one of this file's ${state.fileSteps} steps had a non-finite loss or gradient and was skipped: nothing was learned from it; check the data and the model's weights`, 'non_finite');
    }
    await checkpoint();
  } finally {
    tf.dispose(pending);
  }
  return { status, state: { ...state }, optimizer, lora, lastLoss };
}
