/**
 * The facade the UI calls: queue commands, daemon controls, checkpoints and models, config, export/import.
 * The UI reads state through Dexie liveQuery on the store's tables (see src/store/queries.ts) and writes only through here.
 */
import type { CheckpointRow, ControlKind, ModelRow, Priority, QueueItemRow, WorkbenchDb } from '../store/db.ts';
import { CheckpointStore } from '../store/checkpoints.ts';
import type { FolderReader } from '../engine/checkpoint.ts';
import type { ChatMessage } from '../engine/types.ts';
import { ControlRepo, EventRepo, ModelRepo, SettingsRepo } from '../store/state.ts';
import { BranchRepo, type RollbackPlan } from '../store/branches.ts';
import { VersionRepo, versionName, type VersionFields } from '../store/versions.ts';
import type { VersionRow } from '../store/db.ts';
import { backupToFolder, backupWorkspace, type FileBackupResult, type FolderBackupResult } from '../store/backup.ts';
import { restoreWorkspace, type BackupSource, type RestoreResult } from '../store/restore.ts';
import type { BackupFolder, CheckpointChoice } from '../store/backup-format.ts';

/** Settings key of the person's backend choice (read by the trainer worker). */
export const BACKEND_SETTING = 'backend';
/** Setting: the checkpoint whose LoRA adapter the person agreed to merge into the weights (LoRA turned off). */
export const MERGE_ADAPTER_SETTING = 'lora.mergeAdapterOf';
import { flatten, loadTrainConfig, retentionBudget, retentionPolicy, storageQuota, updateTrainConfig } from './config.ts';
import type { RetentionPlan, RetentionPolicy } from '../store/retention.ts';
import { Queue } from './queue.ts';
import { SAMPLE_DATASET_NAME, sampleDatasetJsonl } from './sample-dataset.ts';
import { folderFor } from './folders.ts';
import { drawEvalSet } from './draw-eval.ts';
import { createMix, type MixRequest } from './mix.ts';
// transfer.ts and preview.ts load the tokenizer library: imported on demand, so the page bundle stays without it
// (in the page, exports, imports and previews run in the validator worker through ApiDeps).
import type { CodebookView, ItemExamplePreview, PreviewService, Regime3PaneData } from './preview.ts';
import type { JobExportOptions, JobExportResult } from './export-job.ts';

export type { CodebookView, ItemExamplePreview, Regime3PaneData };

export type { Priority, ControlKind };

export interface AddFilesOptions {
  priority: Priority;
  /** Queue the valid lines of a file with bad lines instead of failing it; the skipped lines are listed. */
  skipInvalidLines?: boolean;
}

export interface DroppedFile {
  /** File name as dropped (folders flattened: `{stem}_{subfolder}.jsonl`). */
  name: string;
  blob: Blob;
}

export interface AddFileResult {
  name: string;
  /** Set when the file was accepted (it is now `validating`). */
  itemId?: number;
  /** Item id of an earlier item with the same content (flagged, still queued). */
  duplicateOf?: number;
  /** Why the file was refused (e.g. its name already failed 3 times). */
  refused?: string;
}

export interface ErrorReport {
  fileName: string;
  blob: Blob;
}

/** What deleting a checkpoint would lose, or why it is not allowed. */
export interface DeletionPlan {
  allowed: boolean;
  /** One sentence naming what is lost (steps, files), or why it is refused. */
  message: string;
}

export interface ExportOptions {
  dtype?: 'float32' | 'bfloat16';
  /** When given (File System Access API), files are written into it instead of a zip. */
  directory?: FileSystemDirectoryHandle;
  /**
   * 'merged' (default): the model folder, a LoRA adapter merged into the weights (W + (alpha/rank)·B·A);
   * 'adapter': only the LoRA adapter as a PEFT folder (adapter_config.json, adapter_model.safetensors); a
   * checkpoint without an adapter refuses it; 'gguf': the merged model as one GGUF file (llama.cpp, Ollama) and
   * an Ollama Modelfile.
   */
  format?: 'merged' | 'adapter' | 'gguf';
  /** With format 'gguf': F32, F16 (default) or Q8_0 weights (1-D tensors stay F32). */
  ggufType?: 'f32' | 'f16' | 'q8_0';
}
export interface ExportResult {
  /** The streamed zip (absent when written into a directory). */
  zip?: Blob;
  fileName: string;
  files: string[];
}

/** Files of a model folder (relative paths) or one zip of it. */
export type ImportSource = { files: { path: string; blob: Blob }[] } | { zip: Blob };

/** A retention dry run of one model: what automatic retention would delete now and why each kept checkpoint stays. */
export interface RetentionPreview extends RetentionPlan {
  modelId: string;
  policy: RetentionPolicy;
  /** Where the size budget comes from, one phrase ("50% of the 1.1 TB storage quota"). */
  budgetSource: string;
}

export type ConfigValues = Record<string, number | string | boolean | string[]>;
export interface ConfigSetResult {
  ok: boolean;
  /** Per-field messages (field, message) when not ok; locked fields say why. */
  errors: { field: string; message: string }[];
  config: ConfigValues;
}

export interface ResumeAdapter {
  checkpointId: string;
  step: number;
  /** "rank 8, alpha 16 on q_proj, v_proj". */
  adapter: string;
}

export type SaveResult = { saved: true } | { saved: false; failed: string };

export interface ChatOptions {
  maxNewTokens?: number;
  /** 0 = greedy (default). */
  temperature?: number;
  /** Called with the answer so far after every token. */
  onToken?: (textSoFar: string) => void;
}
export interface ChatReply {
  text: string;
  stopReason: string;
  ms: number;
}

export interface WorkbenchApi {
  addFiles(files: DroppedFile[], opts: AddFilesOptions): Promise<AddFileResult[]>;
  reprioritize(itemId: number, priority: Priority): Promise<void>;
  moveUp(itemId: number): Promise<void>;
  moveDown(itemId: number): Promise<void>;
  /** Failed or skipped item back to `queued` (failed: attempts kept; refused past 3). */
  retry(itemId: number): Promise<void>;
  /** Delete a non-processing item and its stored file. */
  remove(itemId: number): Promise<void>;
  /** The failed file's line errors as a text report. */
  downloadErrorReport(itemId: number): Promise<ErrorReport>;

  pause(reason?: string): Promise<void>;
  resume(reason?: string): Promise<void>;
  stop(reason?: string): Promise<void>;
  skip(reason?: string): Promise<void>;

  listCheckpoints(modelId?: string): Promise<CheckpointRow[]>;
  /**
   * What resuming from this checkpoint changes (nothing is changed): `rollback` is false for the latest checkpoint of
   * the model's current line; otherwise `message` names the step, the newer checkpoints and the history that become a
   * set-aside branch (ask before setActiveCheckpoint).
   */
  planRollback(checkpointId: string): Promise<RollbackPlan>;
  /**
   * Makes the checkpoint's model active and this checkpoint its resume point. On an older checkpoint the rollback
   * takes effect when training next starts from it: the later history is set aside as a branch, never deleted.
   */
  setActiveCheckpoint(checkpointId: string): Promise<void>;
  setActiveModel(modelId: string): Promise<void>;
  pinCheckpoint(checkpointId: string, pinned: boolean): Promise<void>;
  /** Names the checkpoint as its model's next version (v001, …): protected from retention and from deletion by hand. */
  saveVersion(checkpointId: string, fields: VersionFields): Promise<VersionRow>;
  planCheckpointDeletion(checkpointId: string): Promise<DeletionPlan>;
  /** Retention dry run of a model (the active one by default; null when there is none): nothing is deleted. */
  retentionPreview(modelId?: string): Promise<RetentionPreview | null>;
  deleteCheckpoint(checkpointId: string): Promise<DeletionPlan>;
  exportCheckpoint(checkpointId: string, opts?: ExportOptions): Promise<ExportResult>;
  /** The model and its queue as a training job for a GPU cluster (zip: transformed JSONL, axolotl.yaml, TRL sft.py, README). */
  exportJob(opts?: JobExportOptions): Promise<JobExportResult>;
  importModel(source: ImportSource, name?: string): Promise<ModelRow>;

  getConfig(): Promise<ConfigValues>;
  setConfig(patch: ConfigValues): Promise<ConfigSetResult>;
  /** The checkpoint the active model resumes from, when it carries a LoRA adapter (asked before LoRA is turned off). */
  resumeAdapter(): Promise<ResumeAdapter | null>;
  /** The person agreed to merge that checkpoint's adapter into the weights when training resumes with LoRA off. */
  confirmAdapterMerge(checkpointId: string): Promise<void>;

  /** "Try it": the active model answers (between training steps while training); streams through onToken. */
  chat(messages: ChatMessage[], opts?: ChatOptions): Promise<ChatReply>;
  /** Stops the answer being generated (it resolves with stopReason 'aborted'). */
  stopChat(): void;

  /** Queues the built-in example dataset (generated in code). */
  addSampleDataset(): Promise<AddFileResult[]>;
  /**
   * Adds a file as a fixed eval set of the active model (never trained on): the trainer validates it like a training
   * file and scores it at every checkpoint (and the base model before its first step). Refused without an active model.
   */
  addEvalSet(file: DroppedFile): Promise<{ id?: number; refused?: string }>;
  /**
   * Draws an eval set once from a queued file that has not started: 100 of its examples (seed 42, not its held-out
   * ones) become an eval set of the active model and are excluded from that file's training.
   */
  drawEvalSet(itemId: number): Promise<{ evalSetId?: number; refused?: string }>;
  /** Removes an eval set and its results. */
  /**
   * Deletes an eval set with its results (the page confirms first) and records it in the event log; a drawn set's rows
   * go back into its file's training when that file has not started.
   */
  removeEvalSet(id: number): Promise<{ results?: number; returnedTo?: string; refused?: string }>;
  /** Queues accepted files as one mixed item trained interleaved by ratio (mix.ts); the files leave the queue. */
  createMix(req: MixRequest): Promise<{ itemId?: number; refused?: string }>;
  /** The backend chosen in settings (null = automatic); `?backend=` overrides it; applies when the trainer next starts. */
  getBackendPreference(): Promise<string | null>;
  setBackendPreference(name: 'webgpu' | 'webgl' | 'wasm' | 'cpu' | null): Promise<void>;
  storageEstimate(): Promise<{ usage: number; quota: number; persisted: boolean }>;

  /**
   * Profile preview of example `exampleIndex` (among the valid examples) of queue item `itemId`: the raw row, the
   * transformed messages, the chat-template text and the tokens marked trained / masked, with counts.
   */
  previewExample(itemId: number, exampleIndex: number): Promise<ItemExamplePreview>;
  /** A canonical expression through the active model's regime-3 codebook: codes, decoded form, token counts, ratio. */
  previewRegime3(text: string): Promise<Regime3PaneData>;
  /** The active model's regime-3 codebook as rows (null when it has none yet). */
  codebook(): Promise<CodebookView | null>;

  /** The whole workspace as one tar (checkpoints: each model's latest, pinned, named and resume point, or all); sets backup.lastAt. */
  backup(opts?: { checkpoints?: CheckpointChoice }): Promise<FileBackupResult>;
  /** The same into a folder (File System Access), incrementally: what the folder holds already is not written again. */
  backupToFolder(folder: BackupFolder, opts?: { checkpoints?: CheckpointChoice }): Promise<FolderBackupResult>;
  /**
   * Restores a backup (its file or its folder) after checking every entry's SHA-256 (a damaged one is refused, naming
   * the entry); a workspace that is not empty is replaced only when `confirmReplace` agrees. The trainer is stopped
   * before the first write: reload the page afterwards.
   */
  restoreBackup(source: BackupSource, opts?: { confirmReplace?(message: string): boolean | Promise<boolean> }): Promise<RestoreResult>;
}

export type { QueueItemRow, CheckpointRow, ModelRow, RollbackPlan };

// ------------------------------------------------------------------ implementation

export interface ApiDeps {
  db: WorkbenchDb;
  /** Starts validating items (the validator worker in the page; in-process in tests). */
  validate(itemIds: number[]): void;
  /** Nudges a running trainer to look at its controls and the queue now. */
  poke?(): void;
  storage?: Pick<StorageManager, 'estimate' | 'persisted' | 'persist'>;
  /** Reader of a model folder reference (default: fetch for URLs, the store for imports). */
  folder?(ref: string): FolderReader;
  /** Builds exports elsewhere (the validator worker, off the main thread); default: in this thread. */
  exportCheckpoint?(id: string, opts: ExportOptions): Promise<ExportResult>;
  /** Builds job exports where the tokenizer lives (the validator worker); default: in this thread. */
  exportJob?(opts: JobExportOptions): Promise<JobExportResult>;
  /** Imports a model folder elsewhere (the validator worker in the page); in-process when absent. */
  importModel?(source: ImportSource, name?: string): Promise<ModelRow>;
  /** The trainer's chat (absent where no trainer runs in this page). */
  chat?(messages: ChatMessage[], opts: ChatOptions): Promise<ChatReply>;
  stopChat?(): void;
  /** Preview data computed where the tokenizer lives (the validator worker); default: in this thread. */
  preview?: Pick<PreviewService, 'example' | 'regime3'>;
  /** Tokenizer folder for previews before any model row exists (the bundled model's). */
  fallbackTokenizerRef?: string;
  /** Stops this page's trainer for good (before a restore rewrites the store). */
  haltTrainer?(): void;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function createWorkbenchApi(deps: ApiDeps): WorkbenchApi {
  const { db } = deps;
  const queue = new Queue(db);
  const controls = new ControlRepo(db);
  const ckpts = new CheckpointStore(db);
  const models = new ModelRepo(db);
  const settings = new SettingsRepo(db);
  let preview = deps.preview;
  const previews = async () => {
    if (preview) return preview;
    const { PreviewService, TokenizerCache } = await import('./preview.ts');
    return (preview = new PreviewService(db, new TokenizerCache(deps.folder ?? ((ref) => folderFor(db, ref))), deps.fallbackTokenizerRef ?? ''));
  };

  // A reload in the middle of a validation left items `validating`: validate them again.
  void db.queue
    .where('status')
    .equals('validating')
    .primaryKeys()
    .then((ids) => ids.length && deps.validate(ids as number[]))
    .catch(() => undefined);

  const control = async (kind: ControlKind, reason?: string) => {
    await controls.request(kind, reason ?? '');
    deps.poke?.();
  };

  const plan = async (id: string): Promise<DeletionPlan> => {
    const row = await db.checkpoints.get(id);
    if (!row) return { allowed: false, message: `Checkpoint ${id} does not exist.` };
    const all = await ckpts.list(row.modelId);
    const model = await models.get(row.modelId);
    if (row.pinned) return { allowed: false, message: `Checkpoint at step ${row.step} is pinned; unpin it first.` };
    const named = await new VersionRepo(db).of(id);
    if (named.length) return { allowed: false, message: `Checkpoint at step ${row.step} is the named version ${named.map((v) => `${versionName(v)} "${v.title}"`).join(', ')}.` };
    if (all.length <= 1) return { allowed: false, message: `Checkpoint at step ${row.step} is the only checkpoint of ${model?.name ?? row.modelId}; deleting it would lose all its training.` };
    if (all[0].id === id) return { allowed: false, message: `Checkpoint at step ${row.step} is the latest of ${model?.name ?? row.modelId}: training resumes from it.` };
    if (model?.resumeFrom === id) return { allowed: false, message: `Checkpoint at step ${row.step} is the one training will resume from.` };
    const files = (model?.lineage ?? []).filter((l) => !l.rollback && l.fromStep < row.step).map((l) => l.fileName);
    const kept = (await ckpts.retentionPlan(row.modelId, retentionPolicy(await loadTrainConfig(db), undefined))).keep.find((k) => k.id === id);
    const rules = kept?.protected ? ` Automatic retention would keep it: ${kept.reasons.join('; ')}.` : '';
    return {
      allowed: true,
      message: `Deletes the checkpoint at step ${row.step} of ${model?.name ?? row.modelId} (${mb(row.bytes)}: weights, optimizer and trainer state${files.length ? ` after ${files.join(', ')}` : ''}); you can no longer export or resume from step ${row.step}.${rules}`,
    };
  };

  return {
    async addFiles(files, opts) {
      const out: AddFileResult[] = [];
      for (const f of files) out.push(await queue.add(f.name, f.blob, opts.priority, opts.skipInvalidLines ?? false));
      const ids = out.filter((r) => r.itemId !== undefined).map((r) => r.itemId!);
      if (ids.length) deps.validate(ids);
      return out;
    },
    reprioritize: (id, p) => queue.reprioritize(id, p),
    async moveUp(id) {
      await queue.move(id, -1);
    },
    async moveDown(id) {
      await queue.move(id, 1);
    },
    async retry(id) {
      if ((await queue.retry(id)) === 'validating') deps.validate([id]);
      deps.poke?.();
    },
    remove: (id) => queue.remove(id),
    downloadErrorReport: (id) => queue.errorReport(id),
    pause: (reason) => control('pause', reason),
    resume: (reason) => control('resume', reason),
    stop: (reason) => control('stop', reason),
    skip: (reason) => control('skip', reason),
    listCheckpoints: (modelId) => ckpts.list(modelId),
    planRollback: async (id) => new BranchRepo(db).plan(id, (await loadTrainConfig(db)).retentionMinAgeHours),
    async setActiveCheckpoint(id) {
      const row = await db.checkpoints.get(id);
      if (!row) throw new Error(`checkpoint ${id} does not exist`);
      await models.setActive(row.modelId);
      const latest = await ckpts.latest(row.modelId);
      await models.update(row.modelId, { resumeFrom: latest?.id === id ? undefined : id });
    },
    setActiveModel: (id) => models.setActive(id),
    pinCheckpoint: (id, pinned) => ckpts.setPinned(id, pinned),
    saveVersion: (id, fields) => new VersionRepo(db).create(id, fields),
    planCheckpointDeletion: plan,
    async retentionPreview(modelId) {
      const id = modelId ?? (await models.active())?.id;
      if (id === undefined) return null;
      const cfg = await loadTrainConfig(db);
      const quota = await storageQuota(deps.storage); // the page's origin: the same quota as the trainer worker's
      const policy = retentionPolicy(cfg, quota);
      return { modelId: id, policy, budgetSource: retentionBudget(cfg, quota).source, ...(await ckpts.retentionPlan(id, policy)) };
    },
    async deleteCheckpoint(id) {
      const p = await plan(id);
      if (p.allowed) await ckpts.remove(id);
      return p;
    },
    async exportCheckpoint(id, opts = {}) {
      if (deps.exportCheckpoint) return deps.exportCheckpoint(id, opts);
      const { exportCheckpointAs } = await import('./transfer.ts');
      return exportCheckpointAs(db, id, { ...opts, folder: deps.folder });
    },
    async exportJob(opts = {}) {
      if (deps.exportJob) return deps.exportJob(opts);
      const [{ exportJob }, { TokenizerCache }] = await Promise.all([import('./export-job.ts'), import('./preview.ts')]);
      const tokenizers = new TokenizerCache(deps.folder ?? ((ref) => folderFor(db, ref)));
      return exportJob(db, (model) => tokenizers.get(model, deps.fallbackTokenizerRef ?? ''), opts);
    },
    async importModel(source, name) {
      if (deps.importModel) return deps.importModel(source, name);
      const { importModelSource } = await import('./transfer.ts');
      return importModelSource(db, source, name);
    },
    async getConfig() {
      return flatten(await loadTrainConfig(db));
    },
    async setConfig(patch) {
      const r = await updateTrainConfig(db, patch);
      return { ok: r.ok, errors: r.errors, config: flatten(r.config) };
    },
    async resumeAdapter() {
      const model = await models.active();
      if (!model) return null;
      const row = (model.resumeFrom ? await db.checkpoints.get(model.resumeFrom) : undefined) ?? (await ckpts.latest(model.id));
      if (!row || !row.tensors.some((t) => t.name.startsWith('lora/'))) return null;
      const l = (row.trainConfig as { lora?: { rank?: number; alpha?: number; targetModules?: string[] } }).lora;
      return { checkpointId: row.id, step: row.step, adapter: `rank ${l?.rank ?? '?'}, alpha ${l?.alpha ?? '?'} on ${(l?.targetModules ?? []).join(', ')}` };
    },
    async confirmAdapterMerge(checkpointId) {
      await settings.set(MERGE_ADAPTER_SETTING, checkpointId);
    },
    async chat(messages, opts = {}) {
      if (!deps.chat) throw new Error('no trainer runs in this page: the chat answers in the tab that trains');
      return deps.chat(messages, opts);
    },
    stopChat() {
      deps.stopChat?.();
    },
    async addEvalSet(file) {
      const model = await models.active();
      if (!model) return { refused: 'No active model yet: start the trainer first.' };
      const id = (await db.evalSets.add({ modelId: model.id, name: file.name, blob: file.blob, addedAt: Date.now(), status: 'pending' })) as number;
      deps.poke?.();
      return { id };
    },
    async createMix(req) {
      const r = await createMix(db, req);
      if (r.itemId !== undefined) deps.poke?.();
      return r;
    },
    async drawEvalSet(itemId) {
      const model = await models.active();
      if (!model) return { refused: 'No active model yet: start the trainer first.' };
      const r = await drawEvalSet(db, itemId, model.id);
      if (r.evalSetId !== undefined) deps.poke?.();
      return r;
    },
    async removeEvalSet(id) {
      return db.transaction('rw', [db.evalSets, db.evalResults, db.queue, db.events], async () => {
        const set = await db.evalSets.get(id);
        if (!set) return { refused: `Eval set ${id} does not exist.` };
        const results = await db.evalResults.where('evalSetId').equals(id).count();
        // A drawn set's rows go back into its file's training while that file has not started (its order is not fixed yet).
        const source = set.drawnFrom !== undefined ? await db.queue.get(set.drawnFrom) : undefined;
        const drawn = source?.evalDrawn?.evalSetId === id ? source.evalDrawn : undefined;
        const returned = !!drawn && source!.status === 'queued' && source!.progress.fileStep === 0;
        if (returned) await db.queue.update(source!.id!, { evalDrawn: undefined });
        await db.evalResults.where('evalSetId').equals(id).delete();
        await db.evalSets.delete(id);
        const fate = !drawn ? '' : returned
          ? `; its ${drawn.indices.length} drawn examples are trained on again with ${source!.name}`
          : `; its ${drawn.indices.length} drawn examples stay out of ${source!.name}'s training (it has started)`;
        await new EventRepo(db).add({ kind: 'deletion', message: `Eval set ${set.name} removed with its ${results} result${results === 1 ? '' : 's'}${fate}.`, modelId: set.modelId });
        return { results, returnedTo: returned ? source!.name : undefined };
      });
    },
    async addSampleDataset() {
      return this.addFiles([{ name: SAMPLE_DATASET_NAME, blob: new Blob([sampleDatasetJsonl()], { type: 'application/jsonl' }) }], { priority: 'normal' });
    },
    async getBackendPreference() {
      return (await settings.get<string>(BACKEND_SETTING)) ?? null;
    },
    async setBackendPreference(name) {
      if (name !== null && !['webgpu', 'webgl', 'wasm', 'cpu'].includes(name)) throw new Error(`unknown backend "${name}"; expected one of: webgpu, webgl, wasm, cpu (or null for automatic)`);
      await settings.set(BACKEND_SETTING, name);
    },
    async storageEstimate() {
      const s = deps.storage ?? (typeof navigator !== 'undefined' ? navigator.storage : undefined);
      if (!s) return { usage: 0, quota: 0, persisted: false };
      const e = await s.estimate();
      return { usage: e.usage ?? 0, quota: e.quota ?? 0, persisted: await s.persisted() };
    },
    previewExample: async (itemId, index) => (await previews()).example(itemId, index),
    previewRegime3: async (text) => (await previews()).regime3(text),
    async codebook() {
      const { codebookView } = await import('./preview.ts');
      return codebookView(await models.active());
    },
    backup: (opts = {}) => backupWorkspace(db, opts),
    backupToFolder: (folder, opts = {}) => backupToFolder(db, folder, opts),
    restoreBackup: (source, opts = {}) => restoreWorkspace(db, source, { confirmReplace: opts.confirmReplace, beforeWrite: () => deps.haltTrainer?.() }),
  };
}

/** Asks the browser to keep this origin's storage (checkpoints are days of training); false where refused. */
export async function requestPersistentStorage(storage?: Pick<StorageManager, 'persist' | 'persisted'>): Promise<boolean> {
  const s = storage ?? (typeof navigator !== 'undefined' ? navigator.storage : undefined);
  if (!s?.persist) return false;
  return (await s.persisted()) || (await s.persist());
}
