/**
 * The page-side supervisor of the trainer worker: starts it, watches the heartbeat in the daemon state (a stall
 * past the config's stallTimeoutMs while preparing or training means stuck), restarts it after a crash or stall,
 * at most 3 restarts in 5 minutes, after which the daemon state is `crashed` with the error kind.
 */
import type { WorkbenchDb } from '../store/db.ts';
import { ControlRepo, DaemonStateRepo, EventRepo } from '../store/state.ts';
import { loadTrainConfig } from './config.ts';
import type { ChatMessage } from '../engine/types.ts';
import type { ChatOptions, ChatReply } from './api.ts';
import { FRESH_BACKEND, classifyCrash } from './failures.ts';
import type { FaultArrival, TrainerTestHook } from '../workers/trainer.worker.ts';

export { classifyCrash, type CrashKind } from './failures.ts';

/** A running trainer (a Web Worker in the page). */
export interface TrainerHandle {
  /** Resolves once the trainer runs (or waits for the training lock); rejects when it cannot start. */
  start(): Promise<void>;
  terminate(): void;
  /** Asks it to look at controls and the queue now. */
  poke?(): void;
  chat?(messages: ChatMessage[], opts: ChatOptions): Promise<ChatReply>;
  stopChat?(): void;
  /** Fault injection (test hooks on): lose the GPU device, make the next steps non-finite, stop inside a phase. */
  test?(hook: TrainerTestHook): Promise<FaultArrival | void>;
}

export interface SupervisorOptions {
  db: WorkbenchDb;
  /** Creates a trainer; `fatal` must be called when it dies (worker error, unhandled failure). */
  spawn(fatal: (message: string) => void): TrainerHandle;
  checkEveryMs?: number;
  maxRestarts?: number;
  windowMs?: number;
  now?(): number;
  log?(msg: string): void;
}

export class Supervisor {
  private handle: TrainerHandle | null = null;
  private restarts: number[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private generation = 0;
  private readonly state: DaemonStateRepo;
  private readonly controls: ControlRepo;
  private readonly events: EventRepo;
  private role: 'trainer' | 'waiting' = 'trainer';
  crashed = false;

  constructor(private readonly o: SupervisorOptions) {
    this.state = new DaemonStateRepo(o.db);
    this.controls = new ControlRepo(o.db);
    this.events = new EventRepo(o.db);
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** Starts the trainer and the watchdog. */
  async start(): Promise<void> {
    this.crashed = false;
    await this.spawn();
    if (!this.timer) this.timer = setInterval(() => void this.check(), this.o.checkEveryMs ?? 5000);
  }

  private async spawn(): Promise<void> {
    const gen = ++this.generation;
    const fatal = (message: string) => {
      if (gen === this.generation) void this.onFailure(message);
    };
    this.handle = this.o.spawn(fatal);
    try {
      await this.handle.start();
    } catch (e) {
      if (gen === this.generation) await this.onFailure(e instanceof Error ? e.message : String(e));
    }
  }

  /** 'waiting' while another tab holds the training lock: the heartbeat in the store is not this tab's trainer's. */
  setRole(role: 'trainer' | 'waiting'): void {
    this.role = role;
  }

  poke(): void {
    this.handle?.poke?.();
  }

  async chat(messages: ChatMessage[], opts: ChatOptions): Promise<ChatReply> {
    if (!this.handle?.chat) throw new Error('the trainer is not running');
    return this.handle.chat(messages, opts);
  }

  stopChat(): void {
    this.handle?.stopChat?.();
  }

  /** Fault injection for the test suite (the trainer refuses unless started with test hooks); `stop-at` resolves on arrival. */
  async testTrainer(hook: TrainerTestHook): Promise<FaultArrival | void> {
    if (!this.handle?.test) throw new Error('the trainer is not running');
    return this.handle.test(hook);
  }

  /** Fault injection: the trainer worker is terminated now, as a crash would (it counts as one). */
  async killTrainer(reason = 'killed by a test hook'): Promise<void> {
    await this.onFailure(reason);
  }

  /** Test hook: restarts allowed in the window before `crashed` (the fault suite measures loss, not the limit). */
  setMaxRestarts(n: number): void {
    this.o.maxRestarts = n;
  }

  /**
   * One watchdog check: a trainer preparing or training without a heartbeat for stallTimeoutMs is restarted;
   * after `crashed`, a Resume request from the person starts a fresh trainer (which then handles that request).
   */
  async check(): Promise<void> {
    if (this.crashed) {
      if ((await this.controls.pending()).some((c) => c.kind === 'resume')) await this.revive();
      return;
    }
    if (!this.handle || this.role === 'waiting') return; // another tab trains: its own supervisor watches it
    const st = await this.state.get();
    if (st.status !== 'training' && st.status !== 'preparing') return;
    const limit = (await loadTrainConfig(this.o.db)).stallTimeoutMs;
    const silent = this.now() - st.heartbeatAt;
    if (silent > limit) await this.onFailure(`no progress for ${Math.round(silent / 1000)} s (stall timeout ${Math.round(limit / 1000)} s)`);
  }

  /**
   * Restart unless this is the 4th failure in the window; then `crashed` with the error kind. A trainer that asks
   * for a fresh backend (its GPU device was lost, its wasm heap ran out) has already paused the daemon and said why:
   * it is replaced at once, and that is not counted as a crash.
   */
  async onFailure(message: string): Promise<void> {
    if (this.crashed) return;
    this.generation++; // late reports from the old trainer are ignored
    this.handle?.terminate();
    this.handle = null;
    if (message.startsWith(FRESH_BACKEND)) {
      this.o.log?.(`trainer replaced: ${message}`);
      await this.record(() => this.events.add({ kind: 'restart', message: `The trainer was replaced with a fresh backend: ${message.slice(FRESH_BACKEND.length).trim()}` }));
      await this.spawn();
      return;
    }
    const now = this.now();
    const windowMs = this.o.windowMs ?? 5 * 60_000;
    this.restarts = this.restarts.filter((t) => now - t < windowMs);
    const kind = classifyCrash(message);
    if (this.restarts.length >= (this.o.maxRestarts ?? 3)) {
      this.crashed = true;
      this.o.log?.(`trainer crashed (${kind}): ${message}; not restarting`);
      await this.record(() => this.state.set({ status: 'crashed', errorKind: kind, error: message, reason: `Crashed ${this.restarts.length + 1} times in ${Math.round(windowMs / 60000)} minutes (${kind}): ${message}` }));
      await this.record(() => this.events.add({ kind: 'crash', errorKind: kind, message: `The trainer failed ${this.restarts.length + 1} times in ${Math.round(windowMs / 60000)} minutes and was not restarted: ${message}`, action: 'Press Resume to start it again.' }));
      return;
    }
    this.restarts.push(now);
    this.o.log?.(`trainer failed (${kind}): ${message}; restart ${this.restarts.length}`);
    await this.record(() => this.state.set({ errorKind: kind, error: message, reason: `Restarting after ${kind}: ${message}` }));
    await this.record(() => this.events.add({ kind: 'restart', errorKind: kind, message: `The trainer was restarted (${this.restarts.length} of ${this.o.maxRestarts ?? 3} in ${Math.round(windowMs / 60000)} minutes): ${message}` }));
    await this.spawn();
  }

  /** The supervisor's own records (state, event log): a write the store refuses (it is full) must not keep it from restarting the trainer. */
  private async record(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (e) {
      this.o.log?.(`could not record it in the store: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
  }

  /** Restart after `crashed`, when the person presses Resume. */
  async revive(): Promise<void> {
    this.restarts = [];
    this.crashed = false;
    if (!this.handle) await this.spawn();
  }

  get restartCount(): number {
    return this.restarts.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.generation++;
    this.handle?.terminate();
    this.handle = null;
  }
}
