/**
 * The one training-config schema: every tunable number of a training run, with its default, allowed range
 * and description (`TRAIN_CONFIG_FIELDS`, which the UI config editor renders), per-preset defaults,
 * `parseTrainConfig` (rejects unknown keys and out-of-range values with a ConfigError) and `diffConfigs`.
 */
import { ConfigError } from '../errors.ts';
import type { ModelConfig } from '../types.ts';
import { presets } from './model-config.ts';
import { parseEvolutionSchedule } from './evolution-schedule.ts';

export type LrSchedule = 'constant' | 'linear' | 'cosine';
export type LoraTarget = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';
export const LORA_TARGETS: readonly LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export interface LoraConfig {
  /** Train low-rank adapters instead of all weights. */
  enabled: boolean;
  /** 1–256. */
  rank: number;
  /** 1–1024; the update is scaled by alpha / rank. */
  alpha: number;
  /** 0–0.9, on the adapter input. */
  dropout: number;
  /** Non-empty subset of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj. */
  targetModules: LoraTarget[];
}

/** regime3 data modes: every example coded, a fixed share kept plain, or a plain share moving over steps. */
export type Regime3DataMode = 'pure' | 'mixed' | 'transitional';
export const REGIME3_MODES: readonly Regime3DataMode[] = ['pure', 'mixed', 'transitional'];

/** Options of the regime3 profile (read only when `profile` is 'regime3'). */
export interface Regime3Config {
  /** pure | mixed | transitional. */
  mode: Regime3DataMode;
  /** mixed: 0–1 share of examples kept plain. */
  plainRatio: number;
  /** transitional: 0–1 plain share at global step 0. */
  plainRatioStart: number;
  /** transitional: 0–1 plain share from `transitionSteps` on. */
  plainRatioEnd: number;
  /** transitional: 1–10000000 steps over which the plain share moves linearly. */
  transitionSteps: number;
  /** Also rewrite S-expressions in the user prompt into codes. */
  encodePrompt: boolean;
  /** 2–100000 codes when the model's codebook is first built (later files reuse the stored one). */
  codebookSize: number;
}

export interface TrainConfig {
  /** Locked. Name or path of the model training started from. */
  baseModel: string;
  /** Locked. Model family; only 'qwen3'. */
  architecture: 'qwen3';
  /** Locked. 128–131072: the longest context the model is trained and served with. */
  maxContext: number;
  /** 1–128 examples per micro-batch. */
  batchSize: number;
  /** 1–128 micro-batches per optimizer step. */
  gradAccumSteps: number;
  /** 1e-6–1e-2 peak learning rate. */
  learningRate: number;
  /** 0–100000 optimizer steps of linear warmup (counted on the global step). */
  warmupSteps: number;
  /** constant after warmup (continuous training) | linear | cosine decay over the file's steps. */
  schedule: LrSchedule;
  /** 0–1, decoupled (AdamW). */
  weightDecay: number;
  /** 0–0.9999. */
  beta1: number;
  /** 0–0.99999. */
  beta2: number;
  /** 1e-12–1e-3. */
  adamEps: number;
  /** 0–1000 global gradient norm clip; 0 = no clipping. */
  maxGradNorm: number;
  /** 16–32768 tokens per example (the product range is 128–32768; below 128 is for tests); longer ones are truncated. */
  maxLength: number;
  /** Pack several examples into one row (block-diagonal causal mask). */
  pack: boolean;
  /** Group examples of similar length into the same batch. */
  bucketByLength: boolean;
  /** 0–2^32-1: data order, dropout, held-out split. */
  seed: number;
  /** 1–100000 steps between metric reads (loss, grad norm); each read waits for the device to finish, so not every step. */
  logEvery: number;
  /** 0–1000000 steps between validation-loss evaluations; 0 = never. */
  evalSteps: number;
  /** 0–1000000 steps between checkpoints; 0 = only at the end. */
  saveSteps: number;
  /** 1–1440 minutes: a checkpoint at least this often while training (tiny/small 5; qwen3-0.6b 60: a ~7 GB write). */
  checkpointEveryMinutes: number;
  /** 0–8760 hours: retention never deletes a checkpoint younger than this, nor one a rollback abandoned less than this ago. */
  retentionMinAgeHours: number;
  /** 0–365 days: retention keeps the last checkpoint of each of the last N local days (today's and yesterday's always). */
  retentionDailyDays: number;
  /** 0–1000000 GB: retention deletes unprotected checkpoints, oldest first, only while a model's take more; 0 = retentionQuotaShare of the storage quota. */
  retentionBudgetGB: number;
  /** 0.05–1: the size budget's share of the browser's storage quota when retentionBudgetGB is 0. */
  retentionQuotaShare: number;
  /** 1–8760 hours: the health panel warns when training ran this long without a checkpoint. */
  healthCheckpointHours: number;
  /** 1–365 days: the health panel warns when the last backup (or, never backed up, the oldest checkpoint) is older. */
  healthBackupDays: number;
  /** 0–0.5 of each file held out for validation. */
  valFraction: number;
  /** 0–100000: at most this many held-out examples per file. */
  valMax: number;
  /** 1–1000 non-finite steps in a row before the job fails. */
  maxConsecutiveNonFinite: number;
  /** 16–65536 tokens per LM-head chunk (logits are never materialised for more). */
  lmHeadChunkTokens: number;
  /** Keep only each layer's input and recompute the layer in backprop: far less activation memory, ~45% slower. */
  gradientCheckpointing: boolean;
  /** On webgpu, fused kernels (RMSNorm, attention, SwiGLU, AdamW) instead of TF.js op by op; other backends always compose. */
  fusedKernels: boolean;
  lora: LoraConfig;
  regime3: Regime3Config;
  /** Profile name (src/profiles) that transforms examples and picks the chat template. */
  profile: string;
  /** 0–1000000 steps between sample generations; 0 = max(10, evalSteps / 10). */
  sampleEvery: number;
  /** 100–600000 ms per sample generation. */
  sampleTimeLimitMs: number;
  /** 0–20 fixed prompts answered at evolutionSchedule's steps (0 = no evolution snapshots); each within sampleTimeLimitMs. */
  evolutionPrompts: number;
  /** Global steps of evolution snapshots: "0,10,25", optionally ending with "every N" (evolution-schedule.ts). */
  evolutionSchedule: string;
  /** 0–1000000 steps between eval-set evals besides those at every checkpoint; 0 = only at checkpoints. */
  evalEverySteps: number;
  /** 0.01–1: most of the wall time eval sets may take; an eval due by evalEverySteps over it is deferred (never one due at a checkpoint). */
  evalTimeShare: number;
  /** 1000–86400000 ms without a heartbeat before the supervisor restarts the trainer; more than sampleTimeLimitMs. */
  stallTimeoutMs: number;
  /** 0.01–1000 passes over a file when no step count is given. */
  epochs: number;
}

type FieldType = 'int' | 'float' | 'bool' | 'enum' | 'string' | 'string[]';
type FieldValue = number | boolean | string | string[];

/** What the config editor needs to render and check one field. `key` uses dots for nested fields (`lora.rank`). */
export interface FieldMeta {
  key: string;
  type: FieldType;
  default: FieldValue;
  min?: number;
  max?: number;
  /** Allowed values of an enum, or of each element of a string[]. */
  options?: readonly string[];
  description: string;
  /** Defines the model: cannot change once a model has been trained from it. */
  locked: boolean;
}

const f = (key: string, type: FieldType, def: FieldValue, description: string, extra: Partial<FieldMeta> = {}): FieldMeta => ({
  key,
  type,
  default: def,
  description,
  locked: false,
  ...extra,
});

/** Every field, in display order, with the generic defaults (presets override some). */
export const TRAIN_CONFIG_FIELDS: readonly FieldMeta[] = [
  f('baseModel', 'string', 'qwen3-tiny', 'Model training started from', { locked: true }),
  f('architecture', 'enum', 'qwen3', 'Model family', { options: ['qwen3'], locked: true }),
  f('maxContext', 'int', 40960, 'Longest context of the model', { min: 128, max: 131072, locked: true }),
  f('batchSize', 'int', 8, 'Examples per micro-batch', { min: 1, max: 128 }),
  f('gradAccumSteps', 'int', 1, 'Micro-batches per optimizer step', { min: 1, max: 128 }),
  f('learningRate', 'float', 3e-4, 'Peak learning rate', { min: 1e-6, max: 1e-2 }),
  f('warmupSteps', 'int', 10, 'Linear warmup steps', { min: 0, max: 100000 }),
  f('schedule', 'enum', 'constant', 'Learning-rate schedule after warmup', { options: ['constant', 'linear', 'cosine'] }),
  f('weightDecay', 'float', 0.0, 'Decoupled weight decay', { min: 0, max: 1 }),
  f('beta1', 'float', 0.9, 'Adam beta1', { min: 0, max: 0.9999 }),
  f('beta2', 'float', 0.999, 'Adam beta2', { min: 0, max: 0.99999 }),
  f('adamEps', 'float', 1e-8, 'Adam epsilon', { min: 1e-12, max: 1e-3 }),
  f('maxGradNorm', 'float', 1.0, 'Global gradient-norm clip (0 = off)', { min: 0, max: 1000 }),
  f('maxLength', 'int', 512, 'Tokens per example (product range 128–32768; ≥16 allowed for tests)', { min: 16, max: 32768 }),
  f('pack', 'bool', false, 'Pack examples into rows'),
  f('bucketByLength', 'bool', true, 'Batch examples of similar length'),
  f('seed', 'int', 0, 'Random seed', { min: 0, max: 4294967295 }),
  f('logEvery', 'int', 10, 'Steps between metric reads (each read waits for the device)', { min: 1, max: 100000 }),
  f('evalSteps', 'int', 50, 'Steps between validation losses (0 = never)', { min: 0, max: 1000000 }),
  f('saveSteps', 'int', 200, 'Steps between checkpoints (0 = at the end only)', { min: 0, max: 1000000 }),
  f('checkpointEveryMinutes', 'int', 5, 'A checkpoint at least this often while training (minutes)', { min: 1, max: 1440 }),
  f('retentionMinAgeHours', 'int', 36, 'Retention never deletes a checkpoint younger than this, or abandoned by a rollback less than this ago (hours)', { min: 0, max: 8760 }),
  f('retentionDailyDays', 'int', 7, "Retention keeps each of the last N days' last checkpoint (today's and yesterday's always)", { min: 0, max: 365 }),
  f('retentionBudgetGB', 'float', 0, "Size budget of a model's checkpoints: unprotected ones go, oldest first, only above it (GB; 0 = a share of the storage quota)", { min: 0, max: 1000000 }),
  f('retentionQuotaShare', 'float', 0.5, 'Share of the storage quota that is the size budget when retentionBudgetGB is 0', { min: 0.05, max: 1 }),
  f('healthCheckpointHours', 'int', 3, 'Health panel: warn when training ran this long without a checkpoint (hours)', { min: 1, max: 8760 }),
  f('healthBackupDays', 'int', 7, 'Health panel: warn when the last backup is older than this (days)', { min: 1, max: 365 }),
  f('valFraction', 'float', 0.05, 'Fraction of a file held out', { min: 0, max: 0.5 }),
  f('valMax', 'int', 100, 'Most held-out examples per file', { min: 0, max: 100000 }),
  f('maxConsecutiveNonFinite', 'int', 10, 'Non-finite steps in a row before failing', { min: 1, max: 1000 }),
  f('lmHeadChunkTokens', 'int', 256, 'Tokens per LM-head chunk', { min: 16, max: 65536 }),
  f('gradientCheckpointing', 'bool', false, 'Recompute layers in backprop (less memory, slower)'),
  f('fusedKernels', 'bool', true, 'Fused WebGPU kernels (RMSNorm, attention, SwiGLU, AdamW); off = TF.js op by op'),
  f('lora.enabled', 'bool', false, 'Train LoRA adapters'),
  f('lora.rank', 'int', 8, 'LoRA rank', { min: 1, max: 256 }),
  f('lora.alpha', 'float', 16, 'LoRA alpha (scale alpha / rank)', { min: 1, max: 1024 }),
  f('lora.dropout', 'float', 0.0, 'LoRA dropout', { min: 0, max: 0.9 }),
  f('lora.targetModules', 'string[]', ['q_proj', 'k_proj', 'v_proj', 'o_proj'], 'Linear layers with adapters', { options: LORA_TARGETS }),
  f('profile', 'string', 'plain_sft', 'Data profile (plain_sft, emoji_think, regime3)'),
  f('regime3.mode', 'enum', 'pure', 'regime3: every example coded (pure), a fixed plain share (mixed), or a moving one (transitional)', { options: REGIME3_MODES }),
  f('regime3.plainRatio', 'float', 0.5, 'regime3 mixed: share of examples kept plain', { min: 0, max: 1 }),
  f('regime3.plainRatioStart', 'float', 1, 'regime3 transitional: plain share at step 0', { min: 0, max: 1 }),
  f('regime3.plainRatioEnd', 'float', 0, 'regime3 transitional: plain share after transitionSteps', { min: 0, max: 1 }),
  f('regime3.transitionSteps', 'int', 1000, 'regime3 transitional: steps over which the plain share moves', { min: 1, max: 10000000 }),
  f('regime3.encodePrompt', 'bool', false, 'regime3: also encode S-expressions in the user prompt'),
  f('regime3.codebookSize', 'int', 512, 'regime3: codes in the codebook built with the model (first regime3 file; never rebuilt)', { min: 2, max: 100000 }),
  f('sampleEvery', 'int', 0, 'Steps between sample answers (0 = max(10, evalSteps/10))', { min: 0, max: 1000000 }),
  f('sampleTimeLimitMs', 'int', 10000, 'Time limit of a sample answer (ms)', { min: 100, max: 600000 }),
  f('evolutionPrompts', 'int', 3, 'Evolution snapshots: fixed held-out prompts answered on the schedule (0 = off)', { min: 0, max: 20 }),
  f('evolutionSchedule', 'string', '0,10,25,50,100,250,500,1000,every 1000', 'Evolution snapshots: global steps ("0,10,25", then "every N")'),
  f('evalEverySteps', 'int', 0, 'Steps between eval-set evals besides every checkpoint (0 = at checkpoints only)', { min: 0, max: 1000000 }),
  f('evalTimeShare', 'float', 0.1, 'Most of the wall time eval sets may take (an eval at a checkpoint always runs)', { min: 0.01, max: 1 }),
  f('stallTimeoutMs', 'int', 300000, 'Watchdog: ms without progress before restart', { min: 1000, max: 86400000 }),
  f('epochs', 'float', 1, 'Passes over a file when no step count is given', { min: 0.01, max: 1000 }),
];

export type PresetName = 'tiny' | 'small' | 'qwen3-0.6b';

/** Per-preset overrides of the generic defaults (the tiny preset learns a small dataset in tens of steps). */
export const PRESET_TRAIN_DEFAULTS: Record<PresetName, Partial<TrainConfig>> = {
  tiny: { baseModel: 'qwen3-tiny', batchSize: 4, learningRate: 1e-2, warmupSteps: 5, maxLength: 256, evalSteps: 20, saveSteps: 100, lmHeadChunkTokens: 256 },
  small: { baseModel: 'qwen3-small', batchSize: 4, learningRate: 2e-3, warmupSteps: 10, maxLength: 512, evalSteps: 50, saveSteps: 200, lmHeadChunkTokens: 256 },
  'qwen3-0.6b': {
    baseModel: 'Qwen/Qwen3-0.6B',
    batchSize: 1,
    gradAccumSteps: 16,
    learningRate: 2e-4,
    warmupSteps: 100,
    maxLength: 2048,
    evalSteps: 200,
    saveSteps: 1000,
    // A checkpoint with Adam moments is ~7 GB: each write stalls training for a minute or more and every one younger
    // than retentionMinAgeHours is kept, so hourly, not every 5 minutes (README, "Retention").
    checkpointEveryMinutes: 60,
    weightDecay: 0.01,
    lmHeadChunkTokens: 256,
    // Without it, activations at 2048 tokens need ~28 GB (see memory-estimate.ts); with it the run fits 24 GB.
    gradientCheckpointing: true,
  },
};

/** The architecture fields that make a model one of the presets (the vocabulary aside: added tokens grow it). */
const PRESET_SHAPE_KEYS = ['hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads', 'headDim'] as const;

/** The preset a model is by shape (vocabulary aside), whatever its folder or row is called; undefined when none. */
export function matchPreset(c: Pick<ModelConfig, (typeof PRESET_SHAPE_KEYS)[number]>): PresetName | undefined {
  return (Object.keys(PRESET_TRAIN_DEFAULTS) as PresetName[]).find((p) => PRESET_SHAPE_KEYS.every((k) => presets[p][k] === c[k]));
}

/**
 * The preset whose training defaults apply to a model: the one it matches by shape; otherwise the nearest by
 * width (hidden ≤ 64 tiny, ≤ 256 small, else qwen3-0.6b: batch 1, gradient checkpointing); the 0.6B without a model.
 * The daemon and the CLI both use this, so a model trains with the same defaults everywhere.
 */
export function presetForModel(c: Pick<ModelConfig, (typeof PRESET_SHAPE_KEYS)[number]> | undefined): PresetName {
  if (!c) return 'qwen3-0.6b';
  const exact = matchPreset(c);
  if (exact) return exact;
  return c.hiddenSize <= presets.tiny.hiddenSize ? 'tiny' : c.hiddenSize <= presets.small.hiddenSize ? 'small' : 'qwen3-0.6b';
}

function getPath(obj: Record<string, unknown>, key: string): unknown {
  const [a, b] = key.split('.');
  const v = obj[a];
  if (b === undefined) return v;
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[b] : undefined;
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const [a, b] = key.split('.');
  if (b === undefined) obj[a] = value;
  else ((obj[a] ??= {}) as Record<string, unknown>)[b] = value;
}

function range(m: FieldMeta): string {
  if (m.options) return m.type === 'string[]' ? `a list of ${m.options.join(', ')}` : `one of ${m.options.join(', ')}`;
  if (m.min !== undefined) return `${m.type === 'int' ? 'an integer' : 'a number'} in [${m.min}, ${m.max}]`;
  return m.type === 'bool' ? 'true or false' : 'a non-empty string';
}

function checkField(m: FieldMeta, v: unknown): FieldValue {
  const bad = (): never => {
    throw new ConfigError(`config field "${m.key}" must be ${range(m)}, got ${JSON.stringify(v)}`, m.key, range(m));
  };
  switch (m.type) {
    case 'int':
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v) || (m.type === 'int' && !Number.isInteger(v))) return bad();
      if (v < (m.min ?? -Infinity) || v > (m.max ?? Infinity)) return bad();
      return v;
    case 'bool':
      return typeof v === 'boolean' ? v : bad();
    case 'string':
      return typeof v === 'string' && v.length > 0 ? v : bad();
    case 'enum':
      return typeof v === 'string' && m.options!.includes(v) ? v : bad();
    case 'string[]':
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && m.options!.includes(x))) return bad();
      return [...new Set(v as string[])];
  }
}

function rejectUnknown(input: Record<string, unknown>): void {
  const known = new Set(TRAIN_CONFIG_FIELDS.map((m) => m.key));
  const nested = new Set(TRAIN_CONFIG_FIELDS.filter((m) => m.key.includes('.')).map((m) => m.key.split('.')[0]));
  for (const [k, v] of Object.entries(input)) {
    if (nested.has(k)) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`config field "${k}" must be an object`, k, 'an object');
      for (const sub of Object.keys(v)) if (!known.has(`${k}.${sub}`)) throw unknownKey(`${k}.${sub}`, known);
    } else if (!known.has(k)) throw unknownKey(k, known);
  }
}

function unknownKey(key: string, known: Set<string>): ConfigError {
  return new ConfigError(`unknown config field "${key}"; known fields: ${[...known].join(', ')}`, key, 'a known field');
}

/**
 * Fields the schema no longer has that an earlier version's stored settings or config files may still hold. Readers
 * of stored settings drop them (the page must still load; they vanish at the next save) and the CLI drops them from
 * `--config` files with a notice; parseTrainConfig itself stays strict. `keepCheckpoints` (keep the newest N) gave
 * way to the retention rules (retention*).
 */
export const RETIRED_CONFIG_KEYS: readonly string[] = ['keepCheckpoints'];

/** `partial` without retired keys. */
export function withoutRetiredKeys(partial: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(partial).filter(([k]) => !RETIRED_CONFIG_KEYS.includes(k)));
}

/** The full default config, optionally for a preset. */
export function defaultTrainConfig(preset?: PresetName): TrainConfig {
  const out: Record<string, unknown> = {};
  for (const m of TRAIN_CONFIG_FIELDS) setPath(out, m.key, Array.isArray(m.default) ? [...m.default] : m.default);
  const cfg = out as unknown as TrainConfig;
  return preset ? { ...cfg, ...PRESET_TRAIN_DEFAULTS[preset] } : cfg;
}

/**
 * A complete, checked TrainConfig from a partial one (e.g. parsed JSON) over the defaults of `preset`.
 * Throws ConfigError naming the field and its allowed range; unknown keys are rejected.
 */
export function parseTrainConfig(partial: unknown, preset?: PresetName): TrainConfig {
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new ConfigError('a training config must be a JSON object', '(root)', 'an object');
  }
  const input = partial as Record<string, unknown>;
  rejectUnknown(input);
  const base = defaultTrainConfig(preset) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const m of TRAIN_CONFIG_FIELDS) {
    const given = getPath(input, m.key);
    setPath(out, m.key, checkField(m, given === undefined ? getPath(base, m.key) : given));
  }
  const cfg = out as unknown as TrainConfig;
  if (cfg.maxLength > cfg.maxContext) {
    throw new ConfigError(`config field "maxLength" (${cfg.maxLength}) must not exceed maxContext (${cfg.maxContext})`, 'maxLength', `at most ${cfg.maxContext}`);
  }
  if (cfg.stallTimeoutMs <= cfg.sampleTimeLimitMs) {
    throw new ConfigError(
      `config field "stallTimeoutMs" (${cfg.stallTimeoutMs} ms) must be more than sampleTimeLimitMs (${cfg.sampleTimeLimitMs} ms): a sample answer may legally take that long, and the watchdog would restart a healthy trainer`,
      'stallTimeoutMs',
      `more than ${cfg.sampleTimeLimitMs}`,
    );
  }
  parseEvolutionSchedule(cfg.evolutionSchedule);
  if (cfg.gradientCheckpointing && cfg.lora.enabled && cfg.lora.dropout > 0) {
    throw new ConfigError(
      'config field "gradientCheckpointing" needs lora.dropout 0: a recomputed layer must see the same dropout mask',
      'gradientCheckpointing',
      'false when lora.dropout > 0',
    );
  }
  return cfg;
}

export interface ConfigChange {
  key: string;
  from: FieldValue;
  to: FieldValue;
  locked: boolean;
}

/** Fields whose values differ between two configs, in schema order. */
export function diffConfigs(a: TrainConfig, b: TrainConfig): ConfigChange[] {
  const out: ConfigChange[] = [];
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  for (const m of TRAIN_CONFIG_FIELDS) {
    const x = getPath(ra, m.key) as FieldValue;
    const y = getPath(rb, m.key) as FieldValue;
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push({ key: m.key, from: x, to: y, locked: m.locked });
  }
  return out;
}

/** Steps between sample generations, resolving sampleEvery = 0 to max(10, evalSteps / 10). */
export function sampleInterval(cfg: TrainConfig): number {
  return cfg.sampleEvery > 0 ? cfg.sampleEvery : Math.max(10, Math.floor(cfg.evalSteps / 10));
}
