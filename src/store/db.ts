/**
 * The one IndexedDB schema of the workbench (Dexie 4) and the facade that says which table holds what.
 * Row types here are the contract between the store, the daemon, the workers and the UI; imports nothing of ours but types.
 *
 * Which table holds what:
 * - `files`: the raw dropped Blob, its name, size and sha256 (to flag the same content dropped twice).
 * - `queue`: one item per dropped file: priority, status, attempts, progress, validation report, line errors, held-out indices.
 * - `runs`: one row per stretch of training on one item (start/end step, outcome).
 * - `metrics`: one row per logged step, keyed [modelId+step]; `evals`: validation loss keyed [modelId+step];
 *   `samples`: generated sample answers (issue 4), each with the branch it was made on. These hold the model's
 *   current line of history (its current branch and the ancestors it continues).
 * - `metricsArchive`, `evalsArchive` (version 3): the rows a rollback set aside, keyed [modelId+branch+step]: the
 *   history of every branch that is not on the current line (see branches.ts).
 * - `checkpoints` (manifest, written LAST) + `checkpointChunks` (≤ 64 MB each, written FIRST): a checkpoint is
 *   complete exactly when its manifest row exists.
 * - `models`: id, name, architecture config, tokenizer reference, lineage, active flag, current branch and the
 *   branch records (version 3).
 * - `settings`: key/value (train config, backend override, ...); `daemon`: the persisted daemon state (key 'state');
 *   `controls`: pause/resume/stop/skip requests with reason and timestamp.
 * - `events`: the event log the person reads: every failure, restart, automatic deletion, rollback and warning,
 *   with what to do about it (version 2).
 * - `versions` (version 4): named versions of a model (v001, title, notes, tags), each a protected reference to a checkpoint.
 */
import { Dexie, type EntityTable, type Table } from 'dexie';
import type { ChatMessage, ModelConfig } from '../engine/types.ts';
import type { DataOrder } from '../engine/train.ts';
import type { EvalSetMetrics } from '../engine/eval-set.ts';
import type { TokenStats, ValidationWarning } from '../engine/data/validate.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';
import type { AnswerOutcome } from '../profiles/outcome.ts';

export type Priority = 'high' | 'normal' | 'low';
export const PRIORITIES: readonly Priority[] = ['high', 'normal', 'low'];
/** The first branch of every model's history (rows and checkpoints without a branch belong to it). */
export const MAIN_BRANCH = 'main';
export type ItemStatus = 'validating' | 'queued' | 'processing' | 'paused' | 'completed' | 'failed' | 'skipped';
export type DaemonStatus = 'idle' | 'preparing' | 'training' | 'paused' | 'stopped' | 'crashed';
export type ControlKind = 'pause' | 'resume' | 'stop' | 'skip';

export interface FileRow {
  id?: number;
  name: string;
  size: number;
  /** Hex sha256 of the content. */
  sha256: string;
  blob: Blob;
  droppedAt: number;
}

export interface LineError {
  /** 1-based line number in the dropped file. */
  line: number;
  field?: string;
  message: string;
}

export interface ItemProgress {
  /** Optimizer steps of this file already trained (and checkpointed or in memory). */
  fileStep: number;
  /** Total optimizer steps this file needs (0 until known). */
  fileSteps: number;
  examplesSeen: number;
  /** Micro-batches of the epoch's plan consumed and the epoch (the trainer's exact position), once started. */
  dataPosition?: number;
  epoch?: number;
  /** Steps of this file skipped because their loss or gradient was not finite. */
  skippedSteps?: number;
  /** The data-order fields (batch size, seed, packing, ...) the file started with: a resume keeps them. */
  dataOrder?: DataOrder;
  /** A mix's position (issue 14): examples and tokens taken per source (the cursor of daemon/mix-order.ts), and its plan per source. */
  mix?: { n: number; taken: number[]; tokens: number[]; planned: number[] };
}

/** One file of a mixed queue item: the source item it was made from (its row keeps the file and its split). */
export interface MixSourceRow {
  itemId: number;
  fileId: number;
  name: string;
  ratio: number;
}

/** A queue item that trains several files interleaved by ratio (daemon/mix.ts). */
export interface MixRow {
  mode: 'examples' | 'tokens';
  sources: MixSourceRow[];
}

export interface ValidationReport {
  lines: number;
  examples: number;
  warnings: number;
  errors: number;
  bytes: number;
  /** One sentence for the UI. */
  summary: string;
  /** What the person sees of the data before training (issue 14); absent on items validated before it was stored. */
  data?: DataProfile;
}

/** A validated file's warnings and token statistics, stored on its queue item (no index: no new Dexie version). */
export interface DataProfile {
  /** Max length the file was validated against (the histogram's right edge). */
  maxLength: number;
  /** Duplicates, truncated examples, answer leaks, control tokens: count, share of the file, first lines concerned. */
  warnings: ValidationWarning[];
  /** Conversation tokens (chat template applied) over valid examples; null when there is none. */
  tokens: TokenStats | null;
}

export interface QueueItemRow {
  id?: number;
  fileId: number;
  /** The dropped file's name (the UI's data-name). */
  name: string;
  size: number;
  priority: Priority;
  status: ItemStatus;
  attempts: number;
  /** Creation order (monotonic), used for "oldest first" and move up/down inside a priority. */
  order: number;
  createdAt: number;
  updatedAt: number;
  /** Item id of an earlier item with the same sha256 (the "same content twice" flag). */
  duplicateOf?: number;
  skipInvalidLines: boolean;
  /** Validation progress while `validating` (bytes read / total). */
  validated?: { bytes: number; totalBytes: number };
  report?: ValidationReport;
  /** First 50 line errors; lineErrorCount is the full count. */
  lineErrors: LineError[];
  lineErrorCount: number;
  /** Every line error as text, one a line (the downloadable report), when there were more than those listed. */
  lineErrorReport?: Blob;
  /** Line numbers skipped when skipInvalidLines was chosen (their reasons are in lineErrors). */
  skippedLines: number[];
  /** Indices (among valid examples) held out for validation loss. */
  heldOut: number[];
  /** Examples drawn from this file as an eval set (issue 13): never trained on, nor held out. */
  evalDrawn?: { evalSetId: number; name: string; indices: number[] };
  progress: ItemProgress;
  /** Last training error, when an attempt failed, and its kind (non_finite, data, config, ...). */
  lastError?: string;
  failureKind?: string;
  /** Why the item is in its status (skip reason, failure reason...). */
  reason?: string;
  /** A mixed item (issue 14): its files and ratios; `fileId` is then its first source's file. */
  mix?: MixRow;
  /** The mixed item this file was put into (its own row then stays `skipped` and keeps the file). */
  mixedInto?: number;
}

export interface RunRow {
  id?: number;
  modelId: string;
  itemId: number;
  fileName: string;
  startedAt: number;
  endedAt?: number;
  startStep: number;
  endStep?: number;
  outcome?: 'completed' | 'paused' | 'stopped' | 'skipped' | 'failed' | 'crashed';
  /** Steps skipped as non-finite during this run. */
  skippedSteps?: number;
  /** Why it failed, when it did. */
  error?: { kind: string; message: string };
  /** The training config it ran with (dotted keys), for comparing runs (issue 14). */
  config?: Record<string, unknown>;
}

export interface MetricRow {
  modelId: string;
  step: number;
  time: number;
  itemId: number;
  fileStep: number;
  loss: number | null;
  lr: number;
  gradNorm: number | null;
  tokens: number;
  ms: number;
  tokensPerSecond: number;
  /** The interval's last step was skipped as non-finite; steps skipped so far in the run (cumulative). */
  skipped?: boolean;
  skippedSteps?: number;
}

export interface EvalRow {
  modelId: string;
  step: number;
  time: number;
  itemId: number;
  valLoss: number;
  /** Train loss (smoothed) at the same step, for the validation–train gap. */
  trainLoss: number | null;
  examples: number;
}

export interface SampleRow {
  id?: number;
  modelId: string;
  step: number;
  time: number;
  itemId: number;
  prompt: string;
  golden: string;
  answer: string;
  match: boolean;
  stopReason: string;
  ms: number;
  /** The branch it was made on ('main' when absent). */
  branch?: string;
  /** The profile's outcome: emoji_think's contract, regime3's right / wrong / decode failure (absent for plain_sft). */
  outcome?: AnswerOutcome;
  /** 'evolution': an evolution snapshot (one of the model's fixed prompts at a scheduled step), not a running sample. */
  kind?: 'evolution';
  /** Evolution snapshots: which of the fixed prompts (0-based) and its whole conversation (to ask it again). */
  promptIndex?: number;
  messages?: ChatMessage[];
}

/** A fixed eval set of a model (issue 13): a file never trained on, scored at every checkpoint. */
export interface EvalSetRow {
  id?: number;
  modelId: string;
  name: string;
  blob: Blob;
  addedAt: number;
  /** `pending` until the trainer first reads it; `failed` when it does not validate (`reason` says why). */
  status: 'pending' | 'ready' | 'failed';
  reason?: string;
  examples?: number;
  /** The queue item it was drawn from (its rows are excluded from that file's training). */
  drawnFrom?: number;
}

/** One eval of one eval set at one step (step 0 of an untrained model: the base model). */
export interface EvalResultRow extends EvalSetMetrics {
  id?: number;
  evalSetId: number;
  modelId: string;
  step: number;
  time: number;
  /** Wall time the eval took. */
  ms: number;
  /** Share of the trainer's wall time spent in evals so far, after this one (the time budget's measure). */
  timeShare: number;
  /** The branch whose weights were scored ('main' when absent): after a rollback, charts follow the current line. */
  branch?: string;
  /** Every example's answer, inspectable, with the profile's outcome (emoji_think's contract, regime3's result). */
  answers: { prompt: string; golden: string; answer: string; match: boolean; loss: number; skill?: string; difficulty?: string; outcome?: AnswerOutcome }[];
  /** The answers' outcomes counted by label ("contract followed", "decode failure", …); absent for plain_sft. */
  outcomes?: Record<string, number>;
}

/** A metric row set aside by a rollback (metricsArchive): the branch it belongs to. */
export interface ArchivedMetricRow extends MetricRow {
  branch: string;
}

/** A validation row set aside by a rollback (evalsArchive). */
export interface ArchivedEvalRow extends EvalRow {
  branch: string;
}

export interface TensorEntry {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  /** Byte offset in the checkpoint's byte stream (chunk i holds bytes [i·chunkBytes, (i+1)·chunkBytes)). */
  offset: number;
  byteLength: number;
}

/** Manifest of a complete checkpoint (written after all of its chunks). */
export interface CheckpointRow {
  id: string;
  modelId: string;
  step: number;
  createdAt: number;
  chunkCount: number;
  chunkBytes: number;
  bytes: number;
  /** CRC-32 of each chunk's bytes, computed while writing and checked on every read (absent on older checkpoints). */
  chunkCrc32?: number[];
  pinned: boolean;
  tensors: TensorEntry[];
  /** Trainer state (step, rng, example cursor, item id + progress ...), JSON-safe. */
  trainerState: Record<string, unknown>;
  trainConfig: Record<string, unknown>;
  profile: string;
  tokenizerRef: string;
  valLoss?: number;
  /** Why it was taken: interval, stop, pause, skip, file end. */
  reason: string;
  /** The branch of the model's history it belongs to ('main' when absent); a rollback starts a new branch. */
  branch?: string;
  /** When a rollback to an older checkpoint left this one on an abandoned branch (kept at least 36 hours after). */
  abandonedAt?: number;
}

/**
 * A named version of a model (version 4): a named, protected reference to one of its checkpoints. Retention never
 * deletes its checkpoint; restoring it is a rollback to that checkpoint (a new branch); it exports as the checkpoint.
 */
export interface VersionRow {
  id: string;
  modelId: string;
  checkpointId: string;
  /** Numbered per model from 1 (shown as v001). */
  number: number;
  step: number;
  title: string;
  notes: string;
  tags: string[];
  createdAt: number;
}

export interface CheckpointChunkRow {
  checkpointId: string;
  index: number;
  data: ArrayBuffer;
}

export interface LineageEntry {
  itemId: number;
  fileName: string;
  fromStep: number;
  toStep: number;
  outcome: 'completed' | 'skipped' | 'in_progress';
  /** Set on the entry of the file the model's regime-3 codebook was built from: codes, added tokens, vocabulary after. */
  codebook?: { size: number; addedTokens: number; vocabSize?: number };
  /**
   * Set on the entry a rollback adds (itemId 0, fileName '', fromStep = toStep = the step training went back to):
   * the checkpoint it continued from, the branch the new run is, and the branches whose later history was set aside.
   */
  rollback?: { checkpointId: string; branch: string; setAside: string[] };
}

/**
 * One branch of a model's history. The history is a tree: 'main' is the root; a rollback to the checkpoint at step
 * `fromStep` of branch `parent` starts a new branch, which owns the steps after `fromStep`. A step of the current
 * line belongs to the deepest branch on the line whose `fromStep` is below it.
 */
export interface BranchRecord {
  id: string;
  /** Shown in the chart's legend and the lineage ('main', 'branch 2', ...). */
  name: string;
  /** The branch it continues (absent on 'main'). */
  parent?: string;
  /** It owns the steps after this one (-1 on 'main': every step). */
  fromStep: number;
  /** The checkpoint it continued from. */
  fromCheckpointId?: string;
  createdAt: number;
  /** When a rollback last set (part of) its history aside. */
  abandonedAt?: number;
}

export interface ModelRow {
  id: string;
  name: string;
  config: ModelConfig;
  /** Where the tokenizer files live: a URL folder ('/models/qwen3-tiny/') or 'import:<id>'. */
  tokenizerRef: string;
  source: 'bundled' | 'imported' | 'trained';
  /** Folder the base weights come from (bundled URL) or import id. */
  baseRef: string;
  baseModel: string;
  lineage: LineageEntry[];
  /** 1 for the active model (indexable), 0 otherwise. */
  active: 0 | 1;
  /** Global step of the latest training on it. */
  step: number;
  /**
   * Checkpoint to resume from instead of the latest (set by "set active" on an older checkpoint). When training
   * next starts from it, the rollback takes effect: the history after it is set aside as a branch (branches.ts).
   */
  resumeFrom?: string;
  /** The branch new steps, checkpoints and samples belong to ('main' when absent; version 3). */
  branch?: string;
  /** Every branch, 'main' included (absent until the first rollback: then only 'main' exists). */
  branches?: BranchRecord[];
  /** True once any step was trained: locked config fields apply. */
  trained: boolean;
  createdAt: number;
  /**
   * The regime-3 codebook trained into this model (its codes are added tokens with their own embedding rows):
   * built once from the first regime3 file, never rebuilt; exported as regime3-codebook.json.
   */
  codebook?: CodebookData;
}

/** Files of an imported model folder (config.json, tokenizer.json, safetensors ...). */
export interface ModelFileRow {
  modelId: string;
  path: string;
  blob: Blob;
}

export interface SettingRow {
  key: string;
  value: unknown;
}

export interface DaemonStateRow {
  key: 'state';
  status: DaemonStatus;
  currentItemId: number | null;
  reason: string;
  since: number;
  heartbeatAt: number;
  /** Global step at the last heartbeat, total steps (current + queue remaining for the current file). */
  step: number;
  totalSteps: number;
  /** Live position in the current file (the queue row's progress moves only with checkpoints). */
  fileStep: number;
  fileSteps: number;
  /** Latest logged training loss and learning rate, tokens per second. */
  loss: number | null;
  lr: number;
  tokensPerSecond: number;
  backend: string;
  backendReason: string;
  /** Kind of the last crash (out_of_memory, device_lost, ...), when crashed. */
  errorKind?: string;
  error?: string;
  /** While `preparing`: what the trainer is doing and how far (weights loaded n of N MB, file tokenized, ...). */
  preparing?: PreparingProgress | null;
  /** Things the person should know that do not stop training (a base model with non-finite weights, ...). */
  warnings?: string[];
  /** The trainer's tf.memory() when last sampled (every few seconds; not a heartbeat). */
  memory?: { numTensors: number; numBytes: number; numBytesInGPU?: number; at: number };
}

/** One phase of getting ready to train, with its progress when it has one. */
export interface PreparingProgress {
  phase: 'loading_weights' | 'building_optimizer' | 'tokenizing' | 'compiling' | 'checking';
  /** One sentence: "Loading weights: 412 of 2384 MB". */
  message: string;
  done?: number;
  total?: number;
}

export type EventKind = 'failure' | 'fault' | 'restart' | 'crash' | 'deletion' | 'rollback' | 'warning';

/** One saved change of the training config (issue 14): which fields, from what to what, when and by whom. */
export interface ConfigChangeRow {
  id?: number;
  /** The model active when it was saved ('' before there is one). */
  modelId: string;
  time: number;
  /** 'person' (the config editor, the CLI) or 'preset:<name>' (the defaults a model's preset brought). */
  by: string;
  changes: { field: string; from: unknown; to: unknown }[];
}

/** One entry of the event log: what happened, in one sentence, and what the person can do about it. */
export interface EventRow {
  id?: number;
  at: number;
  kind: EventKind;
  message: string;
  /** The suggested action, when there is one ("Free space, then Resume"). */
  action?: string;
  /** The failure's or fault's type (out_of_memory, device_lost, non_finite, data, quota, internal ...). */
  errorKind?: string;
  modelId?: string;
  itemId?: number;
  checkpointId?: string;
  detail?: Record<string, unknown>;
}

export interface ControlRow {
  id?: number;
  kind: ControlKind;
  reason: string;
  at: number;
  handledAt?: number;
}

export class WorkbenchDb extends Dexie {
  files!: EntityTable<FileRow, 'id'>;
  queue!: EntityTable<QueueItemRow, 'id'>;
  runs!: EntityTable<RunRow, 'id'>;
  metrics!: Table<MetricRow, [string, number]>;
  evals!: Table<EvalRow, [string, number]>;
  samples!: EntityTable<SampleRow, 'id'>;
  checkpoints!: EntityTable<CheckpointRow, 'id'>;
  checkpointChunks!: Table<CheckpointChunkRow, [string, number]>;
  models!: EntityTable<ModelRow, 'id'>;
  modelFiles!: Table<ModelFileRow, [string, string]>;
  settings!: EntityTable<SettingRow, 'key'>;
  daemon!: EntityTable<DaemonStateRow, 'key'>;
  controls!: EntityTable<ControlRow, 'id'>;
  events!: EntityTable<EventRow, 'id'>;
  metricsArchive!: Table<ArchivedMetricRow, [string, string, number]>;
  evalsArchive!: Table<ArchivedEvalRow, [string, string, number]>;
  versions!: EntityTable<VersionRow, 'id'>;
  evalSets!: EntityTable<EvalSetRow, 'id'>;
  evalResults!: EntityTable<EvalResultRow, 'id'>;
  configHistory!: EntityTable<ConfigChangeRow, 'id'>;

  constructor(name = 'training-workbench') {
    super(name);
    this.version(1).stores({
      files: '++id, sha256, name',
      queue: '++id, fileId, name, status, priority, order, [status+priority]',
      runs: '++id, modelId, itemId',
      metrics: '[modelId+step], modelId',
      evals: '[modelId+step], modelId',
      samples: '++id, [modelId+step], modelId',
      checkpoints: 'id, modelId, [modelId+step], createdAt',
      checkpointChunks: '[checkpointId+index], checkpointId',
      models: 'id, active',
      modelFiles: '[modelId+path], modelId',
      settings: 'key',
      daemon: 'key',
      controls: '++id, at',
    });
    this.version(2).stores({ events: '++id, at, kind, modelId' });
    this.version(3).stores({
      metricsArchive: '[modelId+branch+step], modelId',
      evalsArchive: '[modelId+branch+step], modelId',
    });
    this.version(4).stores({ versions: 'id, modelId, checkpointId, [modelId+number]' });
    this.version(5).stores({ evalSets: '++id, modelId', evalResults: '++id, evalSetId, modelId, [evalSetId+step]' });
    this.version(6).stores({ configHistory: '++id, modelId, time' });
  }
}

let shared: WorkbenchDb | null = null;
/** The database instance of this page or worker (each JS realm opens its own connection). */
export function getDb(): WorkbenchDb {
  shared ??= new WorkbenchDb();
  return shared;
}
