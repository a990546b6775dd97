/**
 * The daemon's training loop (runs in the trainer worker, and in Node tests): whenever idle and an item is queued,
 * take the highest-priority, oldest one, continue the active model from the current weights and optimizer state
 * over the file, and obey pause / resume / stop / skip at step boundaries without losing the untrained rest.
 * Metrics and a heartbeat go to the store every log interval; checkpoints (chunks first, manifest last) every
 * save interval, every few minutes and whenever a job ends; a restart resumes from the latest complete one.
 */
import { dataOrderChanges, withDataOrder, type DataOrder, type JobResult, type TrainerState } from '../engine/train.ts';
import type { TrainConfig } from '../engine/config/train-config.ts';
import { ConfigError } from '../engine/errors.ts';
import { chatAnswer, type ChatRequest } from './sample.ts';
import type { GenerateResult } from '../engine/types.ts';
import { readModelConfig, type FolderReader } from '../engine/checkpoint.ts';
import type { StepMetrics } from '../engine/types.ts';
import { CheckpointStore, DEFAULT_CHUNK_BYTES } from '../store/checkpoints.ts';
import type { ControlRow, DaemonStatus, ItemProgress, MetricRow, ModelRow, PreparingProgress, QueueItemRow, WorkbenchDb } from '../store/db.ts';
import { ControlRepo, DaemonStateRepo, EventRepo, MetricsRepo, ModelRepo, SettingsRepo } from '../store/state.ts';
import { BranchRepo } from '../store/branches.ts';
import { flatten, loadTrainConfig } from './config.ts';
import { loadItemExamples, type ItemExamples } from './mix-examples.ts';
import { Queue } from './queue.ts';
import { ensureModelCodebook } from './codebook.ts';
import { applyProfile, disposeSession, nonFiniteWarning, openSession, type Session, type StoredTrainerState } from './session.ts';
import { FileRun, RunAborted, type FaultPoint } from './file-run.ts';
import { EvalSetRunner } from './eval-sets.ts';
import { failureOf } from './failures.ts';
import { getBackend } from '@tensorflow/tfjs-core';
import type { GpuAdapterSummary } from '../engine/backend.ts';
import { DEVICE_MEMORY_SETTING, deviceMemory, preflight } from './preflight.ts';
import { MERGE_ADAPTER_SETTING } from './api.ts';


/**
 * True when the config changed something the session's objects were built with (the LoRA adapter, AdamW's
 * hyperparameters): the session is then reopened from its latest checkpoint, which applies the new values or
 * refuses them with a reason (a LoRA adapter is never dropped in memory without a word).
 */
function bakedChanged(a: TrainConfig, b: TrainConfig): boolean {
  const baked = (c: TrainConfig) => JSON.stringify([c.lora, c.beta1, c.beta2, c.adamEps, c.weightDecay]);
  return baked(a) !== baked(b);
}


export interface BundledModel {
  id: string;
  name: string;
  /** Folder reference (URL prefix such as '/models/qwen3-tiny/'). */
  ref: string;
}

export interface LoopOptions {
  db: WorkbenchDb;
  /** Reader of a model folder reference (bundled URL, `import:<id>`, or a disk folder in Node). */
  folder(ref: string): FolderReader;
  /** The model made active on a fresh profile. */
  bundled: BundledModel;
  chunkBytes?: number;
  /** How often an idle or paused daemon looks for work and controls. */
  pollMs?: number;
  /** A checkpoint at least this often while training (default: the config's checkpointEveryMinutes; tests set it). */
  checkpointEveryMs?: number;
  /** The trainer's heartbeat at most this often while busy (default HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Backend in use and why (shown in the daemon state). */
  backend?: { name: string; reason: string; adapterInfo?: GpuAdapterSummary; limits?: { maxStorageBufferBindingSize?: number; maxBufferSize?: number } };
  /**
   * Called when the backend is broken (out of memory, GPU device lost) after the daemon paused: the worker asks the
   * supervisor for a fresh trainer (FRESH_BACKEND). Absent in Node tests: the loop just pauses.
   */
  onFreshBackend?(reason: string): void;
  /**
   * Awaited before a run's failure is charged to its file: resolves once a GPU device loss that may be under way has
   * reached deviceLost() (the worker waits a moment for GPUDevice.lost, which can settle after the failing step's own
   * error). Absent where there is no device to lose.
   */
  deviceSettled?(): Promise<void>;
  /** Observer of every step (after the store is updated); tests use it to send controls mid-file. */
  onStep?(m: StepMetrics, item: QueueItemRow): void | Promise<void>;
  /** Fault injection (the worker's test hooks): awaited inside steps, checkpoint writes, validations and samples. */
  faultPoint?(at: FaultPoint): Promise<void>;
  log?(msg: string): void;
}

type Outcome = 'completed' | 'paused' | 'stopped' | 'skipped' | 'failed' | 'quota';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TrainingLoop {
  readonly queue: Queue;
  readonly checkpoints: CheckpointStore;
  readonly state: DaemonStateRepo;
  readonly controls: ControlRepo;
  readonly models: ModelRepo;
  readonly metrics: MetricsRepo;
  readonly events: EventRepo;
  /** The model's fixed eval sets, scored between steps. */
  readonly evals: EvalSetRunner;
  private session: Session | null = null;
  private running = false;
  private unflushed: MetricRow[] = [];
  private chats: { req: ChatRequest; resolve(r: GenerateResult): void; reject(e: unknown): void }[] = [];
  private halted = false;
  private forcedNonFinite = 0;
  /** Why the backend is gone (deviceLost), once it is. */
  private lost: string | null = null;

  constructor(private readonly o: LoopOptions) {
    this.queue = new Queue(o.db);
    this.checkpoints = new CheckpointStore(o.db, o.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    this.state = new DaemonStateRepo(o.db);
    this.controls = new ControlRepo(o.db);
    this.models = new ModelRepo(o.db);
    this.metrics = new MetricsRepo(o.db);
    this.events = new EventRepo(o.db);
    this.evals = new EvalSetRunner(o.db);
  }

  /** Start-up after a (re)load: orphan chunks swept, items left processing requeued, the state reconciled. */
  async recover(): Promise<void> {
    await this.checkpoints.sweepOrphans();
    const prev = await this.state.get();
    const waiting = prev.status === 'paused' || prev.status === 'stopped';
    const requeued = await this.queue.recoverAfterCrash(waiting ? `Waiting: daemon ${prev.status}` : 'Recovered from crash');
    const model = await this.ensureActiveModel();
    // The queue row's progress follows checkpoints; if the tab died between a manifest and the row update, the manifest wins.
    const latest = await this.resumeCheckpoint(model);
    const st = latest?.trainerState as unknown as StoredTrainerState | undefined;
    if (st?.itemId != null && st.progress) {
      const row = await this.o.db.queue.get(st.itemId);
      if (row && row.status === 'queued' && (row.progress.fileStep !== st.progress.fileStep)) await this.queue.setProgress(st.itemId, st.progress);
    }
    // Rows a crash wrote after the current line's last checkpoint are redone; with an older checkpoint chosen, its
    // later history stays until the rollback sets it aside as a branch (BranchRepo.rollBack), never deleted here.
    const tip = model.resumeFrom ? await this.checkpoints.latest(model.id) : latest;
    if (tip) await this.metrics.truncateAfter(model.id, tip.step);
    const crashed = !waiting && (prev.status === 'training' || prev.status === 'preparing' || requeued.length > 0);
    await this.state.set({
      status: waiting ? prev.status : 'idle',
      currentItemId: null,
      reason: waiting ? prev.reason : crashed ? 'Recovered from crash' : prev.reason,
      backend: this.o.backend?.name ?? prev.backend,
      backendReason: this.o.backend?.reason ?? prev.backendReason,
      heartbeatAt: Date.now(),
    });
  }

  /** The daemon: runs until `halt()`; idle polls for queued items, paused/stopped waits for Resume. */
  async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.halted) {
        const ran = await this.tick();
        if (!ran) await sleep(this.o.pollMs ?? 500);
      }
    } finally {
      this.running = false;
    }
  }

  /** Stops the daemon loop after the current item (used on shutdown). */
  halt(): void {
    this.halted = true;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Processes items until the queue is empty or the daemon waits for the person; returns the final status. */
  async runUntilIdle(): Promise<DaemonStatus> {
    while (await this.tick());
    return (await this.state.get()).status;
  }

  /**
   * "Try it": answers with the active model's current weights. While a file trains, the answer comes at the next
   * step boundary and training then continues; when idle, at the daemon's next tick.
   */
  chat(req: ChatRequest): Promise<GenerateResult> {
    return new Promise((resolve, reject) => this.chats.push({ req, resolve, reject }));
  }

  /** Answers every pending chat request with the session's weights (between steps, or when idle). */
  private async drainChats(session?: Session): Promise<void> {
    while (this.chats.length) {
      const c = this.chats.shift()!;
      try {
        c.resolve(await chatAnswer(session ?? (await this.ensureSession()), c.req));
      } catch (e) {
        c.reject(e);
      }
    }
  }

  /** One decision: handle controls, then train the next item. True when something was trained or changed. */
  async tick(): Promise<boolean> {
    if (this.chats.length) {
      const st = await this.state.get();
      await this.drainChats();
      if (st.status === 'preparing') await this.state.set({ status: 'idle' });
      else if (st.status !== (await this.state.get()).status) await this.state.set({ status: st.status, reason: st.reason });
    }
    const st = await this.state.get();
    const pending = await this.controls.pending();
    let resumed = false;
    for (const c of pending) {
      await this.controls.markHandled(c.id!);
      if (c.kind === 'resume' && (st.status === 'paused' || st.status === 'stopped' || st.status === 'crashed')) resumed = true;
      else if ((c.kind === 'pause' || c.kind === 'stop') && !resumed && st.status === 'idle') {
        await this.state.set({ status: c.kind === 'pause' ? 'paused' : 'stopped', reason: c.reason || `${c.kind} requested` });
        return false;
      } else if ((c.kind === 'stop' || c.kind === 'skip') && st.status === 'paused') {
        // The paused file (its progress is checkpointed) goes back to the queue, or is skipped; the daemon waits.
        for (const p of await this.o.db.queue.where('status').equals('paused').toArray()) {
          if (c.kind === 'stop') await this.queue.requeue(p.id!, p.progress, c.reason || 'Stopped');
          else await this.queue.skip(p.id!, p.progress, c.reason || 'Skipped');
        }
        if (c.kind === 'stop') await this.state.set({ status: 'stopped', currentItemId: null, reason: c.reason || 'Stopped' });
        return false;
      }
    }
    if (!resumed && (st.status === 'paused' || st.status === 'stopped')) return false;
    if (resumed) {
      const paused = await this.o.db.queue.where('status').equals('paused').toArray();
      for (const p of paused) await this.queue.setStatus(p.id!, 'queued', 'Resumed');
      await this.state.set({ status: 'idle', reason: 'Resumed' });
    }
    const item = await this.queue.next();
    if (!item) {
      if (st.status !== 'idle') await this.state.set({ status: 'idle', currentItemId: null, reason: 'Queue empty' });
      return (await this.evalWhenIdle()) || resumed;
    }
    await this.trainItem(item);
    return true;
  }

  /** Idle: sets added since the last eval are scored at once (on an untrained model, the base model's result). */
  private async evalWhenIdle(): Promise<boolean> {
    const model = await this.models.active();
    if (!model || (await this.o.db.evalSets.where('modelId').equals(model.id).filter((e) => e.status === 'pending').count()) === 0) return false;
    let s: Session;
    try {
      s = await this.ensureSession();
    } catch (e) {
      const reason = `the model could not be loaded to score it: ${e instanceof Error ? e.message : String(e)}`;
      await this.o.db.evalSets.where('modelId').equals(model.id).filter((x) => x.status === 'pending').modify({ status: 'failed', reason });
      return false;
    }
    await this.evals.evaluate(s, s.state?.globalStep ?? s.modelRow.step, 'before-training');
    return true;
  }

  private async ensureActiveModel(): Promise<ModelRow> {
    const active = await this.models.active();
    if (active) return active;
    const b = this.o.bundled;
    const existing = await this.models.get(b.id);
    if (existing) {
      await this.models.setActive(b.id);
      return { ...existing, active: 1 };
    }
    const row: ModelRow = {
      id: b.id,
      name: b.name,
      config: await readModelConfig(this.o.folder(b.ref)),
      tokenizerRef: b.ref,
      source: 'bundled',
      baseRef: b.ref,
      baseModel: b.id,
      lineage: [],
      active: 1,
      step: 0,
      trained: false,
      createdAt: Date.now(),
    };
    await this.models.put(row);
    return row;
  }

  private async resumeCheckpoint(model: ModelRow) {
    if (model.resumeFrom) {
      const chosen = await this.o.db.checkpoints.get(model.resumeFrom);
      if (chosen) return chosen;
    }
    return this.checkpoints.latest(model.id);
  }

  /** The session for the active model, loaded (status `preparing`, with progress) when missing or for another model. */
  private async ensureSession(): Promise<Session> {
    const model = await this.ensureActiveModel();
    const config = await loadTrainConfig(this.o.db);
    if (this.session && this.session.modelRow.id === model.id && !model.resumeFrom && !bakedChanged(this.session.config, config)) {
      this.session.modelRow = model; // the row may have gained a codebook since
      await applyProfile(this.session, config);
      return this.session;
    }
    await this.state.set({ status: 'preparing', reason: `Loading ${model.name}`, preparing: { phase: 'loading_weights', message: `Loading ${model.name}` } });
    disposeSession(this.session);
    this.session = null;
    const ckptRow = await this.resumeCheckpoint(model);
    const source = ckptRow ? { manifest: ckptRow, read: (only: (name: string) => boolean) => this.checkpoints.streamTensors(ckptRow, only) } : null;
    const mergeOf = await new SettingsRepo(this.o.db).get<string>(MERGE_ADAPTER_SETTING);
    const mergeAdapter = ckptRow !== undefined && mergeOf === ckptRow.id;
    this.session = await openSession(model, config, { base: this.o.folder(model.baseRef), tokenizer: this.o.folder(model.tokenizerRef) }, source, {
      onProgress: this.progressReporter(),
      mergeAdapter,
    });
    const damaged = nonFiniteWarning(this.session);
    if (damaged) await this.events.add({ kind: 'warning', message: damaged, modelId: model.id, checkpointId: ckptRow?.id });
    if (mergeAdapter && source?.manifest.tensors.some((t) => t.name.startsWith('lora/'))) {
      await this.events.add({ kind: 'warning', message: `The LoRA adapter of the checkpoint at step ${ckptRow!.step} was merged into the weights (LoRA turned off, confirmed); that checkpoint keeps the adapter.`, modelId: model.id, checkpointId: ckptRow!.id });
    }
    if (model.resumeFrom) {
      // The rollback takes effect: the history after the chosen checkpoint becomes a set-aside branch, kept.
      if (ckptRow?.id === model.resumeFrom) {
        await new BranchRepo(this.o.db).rollBack(ckptRow.id, { keepHours: config.retentionMinAgeHours });
        this.session.modelRow = (await this.models.get(model.id)) ?? model; // its branch, lineage and step moved
      } else await this.models.update(model.id, { resumeFrom: undefined });
    }
    return this.session;
  }

  /**
   * Global step at which the item's file started (what step-dependent profiles, e.g. regime-3 transitional, are
   * given), so a file resumed after a pause or a crash is transformed exactly as when it started.
   */
  private fileStartStep(s: Session, item: QueueItemRow): number {
    const cur = s.state?.globalStep ?? s.modelRow.step;
    const done = s.itemId === item.id && s.state ? s.state.fileStep : item.progress.fileStep;
    return Math.max(0, cur - done);
  }

  /** The lineage entry of the file a codebook was built from records the vocabulary the model grew to. */
  private async noteVocabulary(s: Session): Promise<void> {
    const lineage = s.modelRow.lineage;
    const k = lineage.findIndex((l) => l.codebook && l.codebook.vocabSize === undefined);
    if (k < 0) return;
    const next = lineage.map((l, i) => (i === k ? { ...l, codebook: { ...l.codebook!, vocabSize: s.model.config.vocabSize } } : l));
    await this.models.update(s.modelRow.id, { lineage: next });
    s.modelRow = { ...s.modelRow, lineage: next };
  }

  /**
   * Everything a file needs before its first step: the session (weights, optimizer), the file's data-order fields
   * (a resumed file keeps those it started with), and its examples tokenized. Each phase shows in `preparing`.
   */
  private async prepare(item: QueueItemRow): Promise<{ s: Session; examples: ItemExamples; cfg: TrainConfig }> {
    const notes = await this.checkFits(item);
    // A regime3 model's codebook is built from its first regime3 file, before the session adds its codes as tokens.
    await ensureModelCodebook(this.o.db, await this.ensureActiveModel(), await loadTrainConfig(this.o.db), item);
    const s = await this.ensureSession();
    await this.noteVocabulary(s);
    const order = this.startedOrder(s, item);
    const cfg = withDataOrder(s.config, order);
    const changed = order ? dataOrderChanges(order, s.config) : [];
    const kept = changed.length ? `${item.name} continues with the data order it started with (${changed.map((c) => c.replace(/ → .*/, '')).join(', ')}); the new values apply from the next file.` : null;
    await this.state.set({ warnings: [...(kept ? [kept] : []), ...this.sessionWarnings(s), ...notes] });
    const progress = this.progressReporter();
    const examples = await loadItemExamples(this.o.db, item, { // a mix's files too (mix-examples.ts)
      tokenizer: s.tokenizer,
      profile: s.profile,
      maxLength: cfg.maxLength,
      step: this.fileStartStep(s, item),
      onProgress: (done, total) => progress({ phase: 'tokenizing', message: `Tokenizing ${item.name}: ${Math.round((100 * done) / (total || done || 1))}%`, done, total }),
    }, cfg);
    return { s, examples, cfg };
  }

  /**
   * The preflight, before any weights load: a run the memory estimate or the backend's limits say cannot fit (or
   * would compute wrong numbers, as wasm does past its heap) is not started; a ConfigError says why and what to
   * change, and the daemon pauses without charging the file. Returns notes worth showing (unknown device memory).
   */
  private async checkFits(item: QueueItemRow): Promise<string[]> {
    const model = await this.ensureActiveModel();
    const cfg = withDataOrder(await loadTrainConfig(this.o.db), item.progress.fileStep > 0 ? item.progress.dataOrder : undefined);
    const b = this.o.backend;
    const name = b?.name ?? getBackend();
    const setting = await new SettingsRepo(this.o.db).get<number>(DEVICE_MEMORY_SETTING);
    const r = preflight({ model: model.config, train: cfg, backend: { name, ...b?.limits }, deviceBytes: deviceMemory(setting, b?.adapterInfo).bytes });
    if (!r.ok) throw new ConfigError(r.problems.join(' '), 'memory', 'a run that fits');
    return name.startsWith('webgpu') ? r.notes : [];
  }

  /** The data-order fields the item's file started with (null when it has not started). */
  private startedOrder(s: Session, item: QueueItemRow): DataOrder | undefined {
    if (s.itemId === item.id && s.state && s.state.fileStep > 0 && s.state.fileStep < s.state.fileSteps) return s.state.dataOrder;
    return item.progress.fileStep > 0 ? item.progress.dataOrder : undefined;
  }

  /** Writes `preparing` progress at most about once a second (each write is also a heartbeat). */
  private progressReporter(): (p: PreparingProgress) => Promise<void> {
    let last = 0;
    let phase = '';
    return async (p) => {
      const now = Date.now();
      if (p.phase === phase && now - last < 1000 && p.done !== p.total) return;
      last = now;
      phase = p.phase;
      await this.state.set({ status: 'preparing', preparing: p });
    };
  }

  private sessionWarnings(s: Session): string[] {
    const w = nonFiniteWarning(s);
    return w ? [w] : [];
  }

  /** Trains one item until it completes or a control/error ends the job; the item's status records the outcome. */
  private async trainItem(item: QueueItemRow): Promise<Outcome> {
    const id = item.id!;
    await this.queue.startProcessing(id);
    await this.state.set({ status: 'preparing', currentItemId: id, reason: `Preparing ${item.name}`, preparing: null });
    let prepared: Awaited<ReturnType<TrainingLoop['prepare']>>;
    try {
      prepared = await this.prepare(item);
    } catch (e) {
      return this.fail(item, e);
    }
    const { s, examples, cfg } = prepared;
    const skippedBefore = s.state?.nonFiniteSkipped ?? 0;
    const runId = (await this.o.db.runs.add({ modelId: s.modelRow.id, itemId: id, fileName: item.name, startedAt: Date.now(), startStep: s.state?.globalStep ?? 0, config: flatten(cfg) })) as number;
    const run = new FileRun(
      {
        queue: this.queue, checkpoints: this.checkpoints, state: this.state, controls: this.controls, models: this.models, metrics: this.metrics,
        checkpointEveryMs: this.o.checkpointEveryMs ?? cfg.checkpointEveryMinutes * 60_000,
        heartbeatMs: this.o.heartbeatMs,
        answerChats: (sess) => this.drainChats(sess),
        hasChats: () => this.chats.length > 0,
        evalAt: (sess, step, reason, beat) => this.evals.evaluate(sess, step, reason, beat),
        evalSpent: (ms) => this.evals.spend(ms),
        onStep: this.o.onStep,
        faultPoint: this.o.faultPoint,
        injectNonFinite: () => this.takeForcedNonFinite(),
        abortReason: () => this.lost,
        onFirstStep: () => this.state.set({ status: 'training', reason: `Training ${item.name}`, preparing: null }).then(() => undefined),
      },
      item, s, examples, cfg, this.unflushed,
    );
    this.unflushed = [];
    await this.state.set({ preparing: { phase: 'compiling', message: 'Compiling kernels and running the first step' } });
    let result: JobResult;
    try {
      result = await run.run(this.resumeFor(s, item));
    } catch (e) {
      this.unflushed = await run.finish();
      if (!(e instanceof RunAborted) && this.lost === null) await this.o.deviceSettled?.();
      if (e instanceof RunAborted || this.lost !== null) {
        // deviceLost() has paused the item and the daemon; nothing more is written with the lost backend. A step in
        // flight when the device went fails with its own error (a mapAsync aborted): that is the loss too, not the file's.
        await this.o.db.runs.update(runId, { endedAt: Date.now(), endStep: s.state?.globalStep, outcome: 'paused', error: { kind: 'device_lost', message: e instanceof RunAborted ? e.message : `the GPU device was lost (${this.lost})` } });
        this.dispose();
        return 'paused';
      }
      const { kind, message } = failureOf(e);
      await this.o.db.runs.update(runId, { endedAt: Date.now(), endStep: s.state?.globalStep, outcome: 'failed', skippedSteps: (s.state?.nonFiniteSkipped ?? 0) - skippedBefore, error: { kind, message } });
      // Weights and optimizer may hold a half-applied step: reload from the last complete checkpoint.
      disposeSession(this.session);
      this.session = null;
      return this.fail(item, e);
    }
    this.unflushed = await run.finish(); // empty unless the disk is still full
    const outcome = await this.settle(item, s, run.progress, result.status, run.control, run.quota);
    await this.o.db.runs.update(runId, { endedAt: Date.now(), endStep: s.state!.globalStep, outcome: outcome === 'quota' ? 'paused' : outcome, skippedSteps: s.state!.nonFiniteSkipped - skippedBefore });
    return outcome;
  }

  /** The trainer state to continue the item from: the session's own when it is ahead of the item's checkpoint, else the item's. */
  private resumeFor(s: Session, item: QueueItemRow): TrainerState | undefined {
    // The session may be ahead of the item's checkpointed progress (e.g. after a checkpoint failed): continue from memory.
    const inMemory = s.itemId === item.id && s.state !== null && s.state.fileStep >= item.progress.fileStep && s.state.fileStep < s.state.fileSteps;
    if (inMemory) return { ...s.state! };
    if (item.progress.fileStep > 0 && s.state) return this.resumeState(s.state, item.progress);
    return undefined;
  }

  /** After a job: the item's status, its lineage and the daemon state say what ended it. Never loses progress. */
  private async settle(item: QueueItemRow, s: Session, progress: ItemProgress, status: JobResult['status'], c: ControlRow | null, quota: string | null): Promise<Outcome> {
    const id = item.id!;
    const end = s.state!.globalStep;
    const lineage = (outcome: 'completed' | 'skipped') =>
      this.models.recordLineage(s.modelRow.id, { itemId: id, fileName: item.name, fromStep: end - s.state!.fileStep, toStep: end, outcome }, end);
    if (quota) {
      await this.queue.setStatus(id, 'paused', quota);
      await this.state.set({ status: 'paused', currentItemId: id, reason: quota });
      // A device-wide fault like those fail() pauses for: the event log says so too (the message says what to do).
      await this.events.add({ kind: 'fault', errorKind: 'quota', message: `Training paused on ${item.name}: ${quota}`, modelId: s.modelRow.id, itemId: id });
      return 'quota';
    }
    if (status === 'completed') {
      await this.queue.complete(id, progress);
      await lineage('completed');
      await this.state.set({ status: 'idle', currentItemId: null, reason: `Completed ${item.name}` });
      return 'completed';
    }
    if (c?.kind === 'pause') {
      await this.queue.setStatus(id, 'paused', c.reason || 'Paused');
      await this.state.set({ status: 'paused', currentItemId: id, reason: c.reason || 'Paused' });
      return 'paused';
    }
    if (c?.kind === 'skip') {
      await this.queue.skip(id, progress, c.reason || 'Skipped');
      await lineage('skipped');
      await this.state.set({ status: 'idle', currentItemId: null, reason: `Skipped ${item.name}${c.reason ? `: ${c.reason}` : ''}` });
      return 'skipped';
    }
    await this.queue.requeue(id, progress, c?.reason || 'Stopped');
    await this.state.set({ status: 'stopped', currentItemId: null, reason: c?.reason || 'Stopped' });
    return 'stopped';
  }

  /** The trainer state to continue an item: the session's cumulative counters at the item's own file position. */
  private resumeState(cur: TrainerState, p: ItemProgress): TrainerState {
    return { ...cur, fileStep: p.fileStep, fileSteps: p.fileSteps, dataPosition: p.dataPosition ?? 0, epoch: p.epoch ?? 0, fileNonFiniteSkipped: p.skippedSteps ?? 0, dataOrder: p.dataOrder };
  }

  /**
   * A file's failure, by kind (failures.ts): a device-wide fault (out of memory, a lost GPU device, a full disk) or
   * a config problem is not the file's fault — the daemon pauses with the reason and what to do, the file waits, no
   * retry is burned, and a broken backend is replaced by a fresh trainer; a non-finite run or bad data fails the
   * file at once (retrying would do the same); anything else is retried from the low queue until its third failure.
   * The daemon goes on to the next file unless it paused. Every failure goes to the event log.
   */
  private async fail(item: QueueItemRow, e: unknown): Promise<Outcome> {
    const f = failureOf(e);
    this.o.log?.(`training "${item.name}" failed (${f.kind}): ${f.message}`);
    const modelId = (await this.models.active())?.id;
    if (f.deviceWide || f.kind === 'config') {
      const what = f.kind === 'config' ? `${item.name} was not started` : `Training paused on ${item.name}`;
      await this.events.add({ kind: f.deviceWide ? 'fault' : 'failure', errorKind: f.kind, message: `${what}: ${f.message}`, action: f.action, modelId, itemId: item.id });
      await this.queue.setStatus(item.id!, 'paused', `${f.message} ${f.action}`);
      await this.state.set({ status: 'paused', currentItemId: null, reason: `${what}: ${f.message} ${f.action}`, errorKind: f.kind, preparing: null });
      if (f.kind === 'out_of_memory' || f.kind === 'device_lost') {
        this.dispose(); // whatever the backend still holds goes with it
        this.o.onFreshBackend?.(`${f.kind}: ${f.message}`);
      }
      return 'paused';
    }
    const verdict = f.kind === 'non_finite' || f.kind === 'data' ? await this.queue.failNow(item.id!, f.message, f.kind) : await this.queue.failAttempt(item.id!, f.message, f.kind);
    await this.events.add({ kind: 'failure', errorKind: f.kind, message: `${item.name} ${verdict === 'retry' ? 'failed and will be retried' : 'failed'}: ${f.message}`, action: f.action, modelId, itemId: item.id });
    await this.state.set({ status: 'idle', currentItemId: null, reason: `${item.name}: ${verdict === 'retry' ? 'will retry' : 'failed'} (${f.kind}: ${f.message})`, preparing: null });
    return 'failed';
  }

  /**
   * The GPU device is gone (driver reset, another tab, a test hook): whatever was training waits — the item and the
   * daemon are paused with the reason and what to do, nothing is charged — and the caller replaces the trainer with
   * a fresh backend (the work since the last checkpoint is redone from it). May be called while a step hangs.
   */
  async deviceLost(message: string): Promise<void> {
    // First, before any await: the run failing under it now (its step's buffers are gone) must see the device is lost.
    this.lost = message;
    this.halt();
    const st = await this.state.get();
    const item = st.currentItemId != null ? await this.o.db.queue.get(st.currentItemId) : undefined;
    const f = failureOf(new Error(`the GPU device was lost (${message})`));
    const busy = st.status === 'training' || st.status === 'preparing';
    await this.events.add({ kind: 'fault', errorKind: 'device_lost', message: `${f.message}${item ? ` while training ${item.name}` : ''}.`, action: f.action, modelId: (await this.models.active())?.id, itemId: item?.id });
    if (item && item.status === 'processing') await this.queue.setStatus(item.id!, 'paused', `${f.message}. ${f.action}`);
    if (busy) await this.state.set({ status: 'paused', currentItemId: null, reason: `Training paused: ${f.message}. ${f.action}`, errorKind: 'device_lost', preparing: null });
  }

  /** Test hook (fault injection): the next `n` steps get a NaN loss, as a real non-finite step would. */
  forceNonFinite(n: number): void {
    this.forcedNonFinite += n;
  }

  private takeForcedNonFinite(): boolean {
    if (this.forcedNonFinite <= 0) return false;
    this.forcedNonFinite--;
    return true;
  }

  /** Frees the model and optimizer. */
  dispose(): void {
    disposeSession(this.session);
    this.session = null;
  }
}
