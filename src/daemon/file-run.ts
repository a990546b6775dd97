/**
 * One file's stretch of training inside the daemon: runs the engine's `runJob` over the file's examples with the
 * hooks that obey controls at step boundaries, store metrics every log interval, beat the heartbeat on time, take
 * timed checkpoints, write each checkpoint as a stream (chunks first, manifest last), take evolution snapshots at
 * their scheduled steps (evolution.ts) and record the file's progress.
 * What ended it (completed, a control, a full disk) is left on the run for the loop to settle.
 */
import { runJob, type JobResult, type LogMetrics, type TrainerState, type TrainSnapshot } from '../engine/train.ts';
import type { StepMetrics } from '../engine/types.ts';
import type { TrainConfig } from '../engine/config/train-config.ts';
import { sampleInterval } from '../engine/config/train-config.ts';
import { CheckpointStore, type CheckpointTensor, type WriteHooks } from '../store/checkpoints.ts';
import type { ControlRow, ItemProgress, MetricRow, QueueItemRow } from '../store/db.ts';
import type { ControlRepo, DaemonStateRepo, MetricsRepo, ModelRepo } from '../store/state.ts';
import type { Queue } from './queue.ts';
import type { ItemExamples } from './mix-examples.ts';
import { sampleAnswer } from './sample.ts';
import { EvolutionSnapshots } from './evolution.ts';
import type { EvalReason } from './eval-sets.ts';
import { retentionPolicy, storageQuota } from './config.ts';
import { snapshotTensors, storedState, type Session } from './session.ts';
import { MetricsBuffer, Pulse, StoreGuard } from './store-writes.ts';

export interface FileRunDeps {
  queue: Queue;
  checkpoints: CheckpointStore;
  state: DaemonStateRepo;
  controls: ControlRepo;
  models: ModelRepo;
  metrics: MetricsRepo;
  /** A checkpoint at least this often while training. */
  checkpointEveryMs: number;
  /** Heartbeat at most this often while busy (default HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Answers pending "Try it" requests between steps; true when there were some. */
  answerChats(s: Session): Promise<void>;
  hasChats(): boolean;
  /** Evaluates the model's eval sets at `step` between steps (the daemon's EvalSetRunner); `beat` keeps the heartbeat. */
  evalAt?(s: Session, step: number, reason: EvalReason, beat: () => Promise<void>): Promise<void>;
  /** Counts time spent in evolution snapshots against the same eval time budget. */
  evalSpent?(ms: number): void;
  /** Observer of every step (tests send controls mid-file). */
  onStep?(m: StepMetrics, item: QueueItemRow): void | Promise<void>;
  /** Told once the first step has run on the device (the state leaves `preparing`). */
  onFirstStep(): Promise<void>;
  /** Fault injection (tests): true makes the next step's loss NaN. */
  injectNonFinite?(): boolean;
  /** Set when the backend was lost under the run: the run stops at the next step boundary without writing more. */
  abortReason?(): string | null;
  /** Fault injection (test hooks on): awaited inside each phase the fault suite can stop a trainer in. */
  faultPoint?(at: FaultPoint): Promise<void>;
}

/** The phases the fault suite can stop a trainer inside (the worker's `stop-at` test hook). */
export type FaultPhase = 'step' | 'checkpoint-write' | 'validation' | 'sample';

/**
 * A point inside a phase: a step that ran and advanced the state in memory with nothing of it stored yet; a
 * checkpoint write with `tensors` of its tensors handed to the store (`last`: every chunk stored, the manifest not
 * yet; `committed`: the manifest stored, the file's progress, lineage and retention not yet); a validation or a
 * sample computed and not yet stored.
 */
export interface FaultPoint {
  phase: FaultPhase;
  step: number;
  tensors?: number;
  last?: boolean;
  committed?: boolean;
}

/** A run stopped because its backend is gone (the daemon has already paused and said why). */
export class RunAborted extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RunAborted';
  }
}

export class FileRun {
  /** The control that stopped the job, if one did. */
  control: ControlRow | null = null;
  readonly guard = new StoreGuard();
  /** Progress as of the last complete checkpoint. */
  progress: ItemProgress;
  private readonly buffer: MetricsBuffer;
  private readonly pulse: Pulse;
  private readonly evolution: EvolutionSnapshots;
  private timed = false;
  private lastCheckpointAt = Date.now();
  private stepsSinceCheckpoint = 0;
  private lastLoss: number | null = null;
  private lastVal: { step: number; loss: number } | null = null;
  private started = false;

  constructor(
    private readonly d: FileRunDeps,
    private readonly item: QueueItemRow,
    private readonly s: Session,
    private readonly examples: ItemExamples,
    /** The session's config with the file's own data-order fields. */
    private readonly cfg: TrainConfig,
    carriedMetrics: MetricRow[],
  ) {
    this.progress = { ...item.progress };
    this.buffer = new MetricsBuffer(d.metrics, this.guard, carriedMetrics);
    this.pulse = new Pulse(d.state, this.guard, d.heartbeatMs);
    this.evolution = new EvolutionSnapshots(cfg, {
      evolution: (modelId) => d.metrics.evolution(modelId),
      chosenEvolutionPrompts: (modelId) => d.metrics.chosenEvolutionPrompts(modelId),
      addSample: (row) => this.guard.write('an evolution snapshot', () => d.metrics.addSample(row)),
    }, (ms) => d.evalSpent?.(ms));
  }

  /** Why training stopped for a full disk, or null. */
  get quota(): string | null {
    return this.guard.quota;
  }

  /** Runs the file from `resume` (or its start) until it completes or a control, an error or a full disk ends it. */
  async run(resume: TrainerState | undefined): Promise<JobResult> {
    const s = this.s;
    await this.evalSets(s.state?.globalStep ?? s.modelRow.step, 'before-training');
    for (;;) {
      this.timed = false;
      const result = await runJob(
        {
          model: s.model, source: this.examples.train, validation: this.examples.validation, config: this.cfg,
          ...(this.examples.mix && { inOrder: true, epochs: 1 }), // a mix is laid out in its order, epochs included
          padTokenId: s.tokenizer.padTokenId, state: resume, optimizer: s.optimizer, lora: s.lora,
          startGlobalStep: s.state?.globalStep ?? s.modelRow.step, startTokensSeen: s.state?.tokensSeen ?? 0,
          startNonFiniteSkipped: s.state?.nonFiniteSkipped ?? 0,
          nonFiniteBaseline: s.nonFiniteAtLoad,
          injectNonFinite: this.d.injectNonFinite && (() => this.d.injectNonFinite!()),
        },
        {
          beforeStep: (st) => this.beforeStep(st),
          onStep: (m) => this.onStep(m),
          onLog: (m) => this.onLog(m),
          onPhase: () => this.pulse.beat({}, true),
          onEval: (e) => this.onEval(e.step, e.valLoss),
          onSample: (st) => this.onSample(st),
          onCheckpoint: (snap) => this.onCheckpoint(snap),
        },
      );
      s.optimizer = result.optimizer;
      s.lora = result.lora;
      s.state = { ...result.state };
      s.itemId = this.item.id!;
      if (result.status === 'stopped' && this.timed && !this.quota && !this.control) {
        resume = { ...result.state };
        continue; // a timed checkpoint was taken at the job's end: carry on exactly there
      }
      return result;
    }
  }

  /** Metric rows a full disk kept back, for the next run. */
  async finish(): Promise<MetricRow[]> {
    await this.buffer.flush().catch(() => undefined);
    return this.buffer.take();
  }

  private async beforeStep(st: Readonly<TrainerState>): Promise<'continue' | 'stop'> {
    const aborted = this.d.abortReason?.();
    if (aborted) throw new RunAborted(aborted);
    if (!this.quota) {
      await this.evolution.maybeTake(this.s, st.globalStep, this.item.id!, this.examples.heldOutChats, () => this.pulse.beat({}, true));
    }
    if (this.d.hasChats()) {
      await this.d.answerChats(this.s);
      await this.pulse.beat({}, true);
    }
    if (this.quota) return 'stop';
    const c = (await this.d.controls.pending()).find((r) => r.kind !== 'resume');
    if (c) {
      this.control = c;
      await this.d.controls.markHandled(c.id!);
      return 'stop';
    }
    if (this.stepsSinceCheckpoint > 0 && Date.now() - this.lastCheckpointAt >= this.d.checkpointEveryMs) {
      this.timed = true;
      return 'stop';
    }
    return 'continue';
  }

  private async onStep(m: StepMetrics): Promise<void> {
    if (this.d.faultPoint) await this.d.faultPoint({ phase: 'step', step: m.step });
    this.stepsSinceCheckpoint++;
    if (!this.started) {
      this.started = true;
      await this.d.onFirstStep();
    }
    await this.pulse.beat({ step: m.step, totalSteps: m.step + (m.fileSteps - m.fileStep), fileStep: m.fileStep, fileSteps: m.fileSteps, lr: m.lr });
    await this.d.onStep?.(m, this.item);
    if (this.cfg.evalEverySteps > 0 && m.step % this.cfg.evalEverySteps === 0) await this.evalSets(m.step, 'interval');
  }

  private async evalSets(step: number, reason: EvalReason): Promise<void> {
    if (!this.d.evalAt) return;
    await this.pulse.beat({}, true);
    await this.d.evalAt(this.s, step, reason, () => this.pulse.beat());
    await this.pulse.beat({}, true);
  }

  /** One metric row per log interval: its loss, and speed averaged over the interval (the device has drained). */
  private async onLog(m: LogMetrics): Promise<void> {
    const s = this.s;
    this.lastLoss = m.loss;
    this.buffer.push({
      modelId: s.modelRow.id, step: m.step, time: Date.now(), itemId: this.item.id!, fileStep: m.fileStep, loss: m.loss, lr: m.lr,
      gradNorm: m.gradNorm, tokens: Math.round(m.intervalTokens / m.intervalSteps), ms: m.msPerStep, tokensPerSecond: m.tokensPerSecond,
      skipped: m.skipped, skippedSteps: m.nonFiniteSkipped,
    });
    await this.buffer.flush();
    await this.pulse.beat({ step: m.step, totalSteps: m.step + (m.fileSteps - m.fileStep), fileStep: m.fileStep, fileSteps: m.fileSteps, loss: m.loss, lr: m.lr, tokensPerSecond: m.tokensPerSecond }, true);
  }

  private async onEval(step: number, valLoss: number): Promise<void> {
    if (this.d.faultPoint) await this.d.faultPoint({ phase: 'validation', step });
    this.lastVal = { step, loss: valLoss };
    await this.guard.write('the validation loss', () =>
      this.d.metrics.putEval({ modelId: this.s.modelRow.id, step, time: Date.now(), itemId: this.item.id!, valLoss, trainLoss: this.lastLoss, examples: this.examples.validation.size }),
    );
    await this.pulse.beat({}, true);
  }

  private async onSample(st: Readonly<TrainerState>): Promise<void> {
    const chats = this.examples.heldOutChats;
    if (chats.length === 0) return;
    const k = Math.floor(st.globalStep / sampleInterval(this.cfg)) % chats.length;
    const row = await sampleAnswer(this.s, chats[k], { step: st.globalStep, itemId: this.item.id! });
    if (this.d.faultPoint) await this.d.faultPoint({ phase: 'sample', step: st.globalStep });
    await this.guard.write('a sample answer', () => this.d.metrics.addSample(row));
    await this.pulse.beat({}, true);
  }

  /** The checkpoint's tensors as they stream from the device, with a heartbeat every few seconds of a long write. */
  private async *beating(tensors: AsyncIterable<CheckpointTensor>, step: number, handed: { n: number }): AsyncGenerator<CheckpointTensor> {
    for await (const t of tensors) {
      if (this.d.faultPoint) await this.d.faultPoint({ phase: 'checkpoint-write', step, tensors: handed.n });
      await this.pulse.beat();
      yield t;
      handed.n++;
    }
  }

  /** The fault point between the last chunk and the manifest (test hooks on). */
  private writeHooks(step: number, handed: { n: number }): WriteHooks {
    const at = this.d.faultPoint;
    return at ? { beforeManifest: () => at({ phase: 'checkpoint-write', step, tensors: handed.n, last: true }) } : {};
  }

  private async onCheckpoint(snap: TrainSnapshot): Promise<void> {
    const s = this.s, id = this.item.id!;
    const p: ItemProgress = {
      fileStep: snap.state.fileStep,
      fileSteps: snap.state.fileSteps,
      examplesSeen: snap.state.dataPosition * this.cfg.batchSize + snap.state.epoch * this.examples.train.size,
      dataPosition: snap.state.dataPosition,
      epoch: snap.state.epoch,
      skippedSteps: snap.state.fileNonFiniteSkipped ?? 0,
      dataOrder: snap.state.dataOrder,
    };
    if (this.examples.mix) p.mix = this.examples.mix.progressAt(p.examplesSeen); // per-source cursors, in the same records
    await this.buffer.flush();
    const handed = { n: 0 }; // tensors handed to the store so far
    const reason = this.control ? this.control.kind : this.timed ? 'time' : snap.state.fileStep >= snap.state.fileSteps ? 'file end' : 'interval';
    const res = await this.d.checkpoints.writeStream({
      modelId: s.modelRow.id,
      step: snap.step,
      trainerState: storedState(snap, id, p, s.nonFiniteAtLoad) as unknown as Record<string, unknown>,
      trainConfig: snap.config as unknown as Record<string, unknown>,
      profile: s.profile.name,
      tokenizerRef: s.modelRow.tokenizerRef,
      valLoss: this.lastVal?.step === snap.step ? this.lastVal.loss : undefined, // these weights' validation loss ("best" retention)
      reason,
    }, this.beating(snapshotTensors(snap), snap.step, handed), this.writeHooks(snap.step, handed)); // one tensor at a time from the device: never the whole checkpoint in memory
    if (!res.saved) {
      this.guard.quota ??= res.failed === 'quota'
        ? `Storage is full: the checkpoint at step ${snap.step} could not be saved (${res.message}). Free space (delete checkpoints), then Resume.`
        : `Checkpoint at step ${snap.step} failed: ${res.message}`;
      return;
    }
    if (this.d.faultPoint) await this.d.faultPoint({ phase: 'checkpoint-write', step: snap.step, tensors: handed.n, committed: true });
    this.lastCheckpointAt = Date.now();
    this.stepsSinceCheckpoint = 0;
    this.progress = p;
    // The checkpoint is complete; a full disk in the bookkeeping after it pauses (a reload reconciles from the manifest).
    await this.guard.write("the file's progress", () => this.d.queue.setProgress(id, p));
    await this.guard.write("the model's lineage", () => this.d.models.recordLineage(s.modelRow.id, { itemId: id, fileName: this.item.name, fromStep: snap.step - snap.state.fileStep, toStep: snap.step, outcome: 'in_progress' }, snap.step));
    const policy = retentionPolicy(this.cfg, await storageQuota()); // the model's resume point is protected by the store
    await this.guard.write('the retention log', () => this.d.checkpoints.applyRetention(s.modelRow.id, policy));
    await this.evalSets(snap.step, 'checkpoint');
  }
}
