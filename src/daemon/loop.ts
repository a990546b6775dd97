/**
 * The daemon's training loop (runs in the trainer worker, and in Node tests): whenever idle and an item is queued,
 * take the highest-priority, oldest one, continue the active model from the current weights and optimizer state
 * over the file, and obey pause / resume / stop / skip at step boundaries without losing the untrained rest.
 * Metrics and a heartbeat go to the store every log interval; checkpoints (chunks first, manifest last) every
 * save interval, every few minutes and whenever a job ends; a restart resumes from the latest complete one.
 */
import { runJob, type JobResult, type TrainerState, type TrainSnapshot } from '../engine/train.ts';
import { sampleInterval } from '../engine/config/train-config.ts';
import { chatAnswer, sampleAnswer, type ChatRequest } from './sample.ts';
import type { GenerateResult } from '../engine/types.ts';
import { readModelConfig, type FolderReader } from '../engine/checkpoint.ts';
import type { StepMetrics } from '../engine/types.ts';
import { CheckpointStore, DEFAULT_CHUNK_BYTES, isQuotaError } from '../store/checkpoints.ts';
import type { ControlRow, DaemonStatus, ItemProgress, MetricRow, ModelRow, QueueItemRow, WorkbenchDb } from '../store/db.ts';
import { ControlRepo, DaemonStateRepo, MetricsRepo, ModelRepo } from '../store/state.ts';
import { loadTrainConfig } from './config.ts';
import { loadFileExamples } from './examples.ts';
import { Queue } from './queue.ts';
import { ensureModelCodebook } from './codebook.ts';
import { applyProfile, disposeSession, openSession, snapshotTensors, storedState, type Session, type StoredTrainerState } from './session.ts';

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
  /** A checkpoint at least this often while training (default 5 minutes). */
  checkpointEveryMs?: number;
  /** Backend in use and why (shown in the daemon state). */
  backend?: { name: string; reason: string };
  /** Observer of every step (after the store is updated); tests use it to send controls mid-file. */
  onStep?(m: StepMetrics, item: QueueItemRow): void | Promise<void>;
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
  private session: Session | null = null;
  private running = false;
  private unflushed: MetricRow[] = [];
  private chats: { req: ChatRequest; resolve(r: GenerateResult): void; reject(e: unknown): void }[] = [];
  private halted = false;

  constructor(private readonly o: LoopOptions) {
    this.queue = new Queue(o.db);
    this.checkpoints = new CheckpointStore(o.db, o.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    this.state = new DaemonStateRepo(o.db);
    this.controls = new ControlRepo(o.db);
    this.models = new ModelRepo(o.db);
    this.metrics = new MetricsRepo(o.db);
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
    if (latest) await this.metrics.truncateAfter(model.id, latest.step);
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
      return resumed;
    }
    await this.trainItem(item);
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

  /** The session for the active model, loaded (status `preparing`) when missing or for another model. */
  private async ensureSession(): Promise<Session> {
    const model = await this.ensureActiveModel();
    const config = await loadTrainConfig(this.o.db);
    if (this.session && this.session.modelRow.id === model.id && !model.resumeFrom) {
      this.session.modelRow = model; // the row may have gained a codebook since
      await applyProfile(this.session, config);
      return this.session;
    }
    await this.state.set({ status: 'preparing', reason: `Loading ${model.name}` });
    disposeSession(this.session);
    this.session = null;
    const ckptRow = await this.resumeCheckpoint(model);
    const ckpt = ckptRow ? await this.checkpoints.read(ckptRow.id) : null;
    this.session = await openSession(model, config, { base: this.o.folder(model.baseRef), tokenizer: this.o.folder(model.tokenizerRef) }, ckpt);
    if (model.resumeFrom) {
      await this.models.update(model.id, { resumeFrom: undefined });
      if (ckptRow) await this.metrics.truncateAfter(model.id, ckptRow.step);
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

  /** Trains one item until it completes or a control/error ends the job; the item's status records the outcome. */
  private async trainItem(item: QueueItemRow): Promise<Outcome> {
    const id = item.id!;
    await this.queue.startProcessing(id);
    await this.state.set({ status: 'preparing', currentItemId: id, reason: `Preparing ${item.name}` });
    let s: Session;
    let examples;
    try {
      // A regime3 model's codebook is built from its first regime3 file, before the session adds its codes as tokens.
      await ensureModelCodebook(this.o.db, await this.ensureActiveModel(), await loadTrainConfig(this.o.db), item);
      s = await this.ensureSession();
      await this.noteVocabulary(s);
      const file = await this.o.db.files.get(item.fileId);
      if (!file) throw new Error(`the stored file of "${item.name}" is missing`);
      examples = await loadFileExamples(file.blob, {
        name: item.name,
        tokenizer: s.tokenizer,
        profile: s.profile,
        maxLength: s.config.maxLength,
        skipInvalidLines: item.skipInvalidLines,
        heldOut: item.heldOut,
        step: this.fileStartStep(s, item),
      });
    } catch (e) {
      return this.fail(item, e);
    }
    const runId = (await this.o.db.runs.add({ modelId: s.modelRow.id, itemId: id, fileName: item.name, startedAt: Date.now(), startStep: s.state?.globalStep ?? 0 })) as number;
    let progress: ItemProgress = { ...item.progress };
    let control: ControlRow | null = null;
    let quota: string | null = null;
    let timedCheckpoint = false;
    let lastCheckpointAt = Date.now();
    let stepsSinceCheckpoint = 0;
    let buffered: MetricRow[] = this.unflushed; // rows a full disk kept back last time
    this.unflushed = [];
    let lastLoss: number | null = null;
    let lastVal: { step: number; loss: number } | null = null;
    const everyMs = this.o.checkpointEveryMs ?? 5 * 60_000;

    /** Store writes during training: a full disk pauses training (like a failed checkpoint) instead of failing the file. */
    const guard = async (what: string, write: () => Promise<unknown>): Promise<boolean> => {
      try {
        await write();
        return true;
      } catch (e) {
        if (!isQuotaError(e)) throw e;
        quota ??= `Storage is full: ${what} could not be saved. Free space (delete checkpoints), then Resume.`;
        return false;
      }
    };
    const flush = async () => {
      const rows = buffered;
      buffered = [];
      if (!(await guard('the metrics', () => this.metrics.putMetrics(rows)))) buffered = [...rows, ...buffered]; // kept for the next flush
    };
    const onCheckpoint = async (snap: TrainSnapshot) => {
      const p: ItemProgress = {
        fileStep: snap.state.fileStep,
        fileSteps: snap.state.fileSteps,
        examplesSeen: snap.state.dataPosition * s.config.batchSize + snap.state.epoch * examples.train.size,
        dataPosition: snap.state.dataPosition,
        epoch: snap.state.epoch,
      };
      await flush();
      const res = await this.checkpoints.writeStream({
        modelId: s.modelRow.id,
        step: snap.step,
        trainerState: storedState(snap, id, p) as unknown as Record<string, unknown>,
        trainConfig: snap.config as unknown as Record<string, unknown>,
        profile: s.profile.name,
        tokenizerRef: s.modelRow.tokenizerRef,
        valLoss: lastVal?.step === snap.step ? lastVal.loss : undefined, // these weights' validation loss ("best" retention)
        reason: control ? control.kind : timedCheckpoint ? 'time' : snap.state.fileStep >= snap.state.fileSteps ? 'file end' : 'interval',
      }, snapshotTensors(snap)); // one tensor at a time from the device: never the whole checkpoint in memory
      if (!res.saved) {
        quota = res.failed === 'quota' ? `Storage is full: the checkpoint at step ${snap.step} could not be saved (${res.message}). Free space (delete checkpoints), then Resume.` : `Checkpoint at step ${snap.step} failed: ${res.message}`;
        return;
      }
      lastCheckpointAt = Date.now();
      stepsSinceCheckpoint = 0;
      progress = p;
      await this.queue.setProgress(id, p);
      await this.models.recordLineage(s.modelRow.id, { itemId: id, fileName: item.name, fromStep: snap.step - snap.state.fileStep, toStep: snap.step, outcome: 'in_progress' }, snap.step);
      await this.checkpoints.applyRetention(s.modelRow.id, s.config.keepCheckpoints);
    };

    let result: JobResult | null = null;
    // The session may be ahead of the item's checkpointed progress (e.g. after a checkpoint failed): continue from memory.
    const inMemory = s.itemId === id && s.state !== null && s.state.fileStep >= item.progress.fileStep && s.state.fileStep < s.state.fileSteps;
    let resumeState: TrainerState | undefined = inMemory
      ? { ...s.state! }
      : item.progress.fileStep > 0 && s.state
        ? this.resumeState(s.state, item.progress)
        : undefined;
    await this.state.set({ status: 'training', reason: `Training ${item.name}` });
    try {
      for (;;) {
        timedCheckpoint = false;
        result = await runJob(
          {
            model: s.model,
            source: examples.train,
            validation: examples.validation,
            config: s.config,
            padTokenId: s.tokenizer.padTokenId,
            state: resumeState,
            optimizer: s.optimizer,
            lora: s.lora,
            startGlobalStep: s.state?.globalStep ?? s.modelRow.step,
            startTokensSeen: s.state?.tokensSeen ?? 0,
          },
          {
            beforeStep: async () => {
              if (this.chats.length) await this.drainChats(s);
              if (quota) return 'stop';
              const c = (await this.controls.pending()).find((r) => r.kind !== 'resume');
              if (c) {
                control = c;
                await this.controls.markHandled(c.id!);
                return 'stop';
              }
              if (stepsSinceCheckpoint > 0 && Date.now() - lastCheckpointAt >= everyMs) {
                timedCheckpoint = true;
                return 'stop';
              }
              return 'continue';
            },
            onStep: async (m) => {
              stepsSinceCheckpoint++;
              buffered.push({ modelId: s.modelRow.id, step: m.step, time: Date.now(), itemId: id, fileStep: m.fileStep, loss: m.loss, lr: m.lr, gradNorm: m.gradNorm, tokens: m.tokens, ms: m.msPerStep, tokensPerSecond: m.tokensPerSecond });
              if (m.loss !== null) {
                lastLoss = m.loss;
                await flush();
                await guard('the heartbeat', () => this.state.heartbeat({ step: m.step, totalSteps: m.step + (m.fileSteps - m.fileStep), fileStep: m.fileStep, fileSteps: m.fileSteps, loss: m.loss, lr: m.lr, tokensPerSecond: m.tokensPerSecond }));
              }
              await this.o.onStep?.(m, item);
            },
            onEval: async (e) => {
              lastVal = { step: e.step, loss: e.valLoss };
              await guard('the validation loss', () => this.metrics.putEval({ modelId: s.modelRow.id, step: e.step, time: Date.now(), itemId: id, valLoss: e.valLoss, trainLoss: lastLoss, examples: examples.validation.size }));
            },
            onSample: async (st) => {
              if (examples.heldOutChats.length === 0) return;
              const k = Math.floor(st.globalStep / sampleInterval(s.config)) % examples.heldOutChats.length;
              const row = await sampleAnswer(s, examples.heldOutChats[k], { step: st.globalStep, itemId: id });
              await guard('a sample answer', () => this.metrics.addSample(row));
            },
            onCheckpoint,
          },
        );
        s.optimizer = result.optimizer;
        s.lora = result.lora;
        s.state = { ...result.state };
        s.itemId = id;
        if (result.status === 'stopped' && timedCheckpoint && !quota && !control) {
          resumeState = { ...result.state };
          continue; // a timed checkpoint was taken at the job's end: carry on exactly there
        }
        break;
      }
    } catch (e) {
      await flush().catch(() => undefined);
      await this.o.db.runs.update(runId, { endedAt: Date.now(), endStep: s.state?.globalStep, outcome: 'failed' });
      // Weights and optimizer may hold a half-applied step: reload from the last complete checkpoint.
      disposeSession(this.session);
      this.session = null;
      return this.fail(item, e);
    }
    await flush();
    this.unflushed = buffered; // empty unless the disk is still full
    const outcome = await this.settle(item, s, progress, result.status, control as ControlRow | null, quota);
    await this.o.db.runs.update(runId, { endedAt: Date.now(), endStep: s.state!.globalStep, outcome: outcome === 'quota' ? 'paused' : outcome });
    return outcome;
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
    return { ...cur, fileStep: p.fileStep, fileSteps: p.fileSteps, dataPosition: p.dataPosition ?? 0, epoch: p.epoch ?? 0 };
  }

  private async fail(item: QueueItemRow, e: unknown): Promise<Outcome> {
    const msg = e instanceof Error ? e.message : String(e);
    this.o.log?.(`training "${item.name}" failed: ${msg}`);
    const verdict = await this.queue.failAttempt(item.id!, msg);
    await this.state.set({ status: 'idle', currentItemId: null, reason: `${item.name}: ${verdict === 'retry' ? 'will retry' : 'failed'} (${msg})` });
    return 'failed';
  }

  /** Frees the model and optimizer. */
  dispose(): void {
    disposeSession(this.session);
    this.session = null;
  }
}
