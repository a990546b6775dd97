/**
 * The store writes a training run makes between steps, made safe for a full disk and for a slow device: a guard
 * that turns a quota error into a "pause with this message" instead of a failed file, a buffer of metric rows that
 * keeps what a full disk refused for the next flush, and a heartbeat beaten on time (not on steps), so a long step,
 * a checkpoint write or a model load never looks like a stalled trainer.
 */
import { isQuotaError } from '../store/checkpoints.ts';
import type { DaemonStateRow, MetricRow } from '../store/db.ts';
import type { DaemonStateRepo, MetricsRepo } from '../store/state.ts';

/** How often the trainer says it is alive while busy (the watchdog's limit is minutes). */
export const HEARTBEAT_MS = 2000;

/** Runs store writes; the first quota failure is kept as the message to pause with. Other errors are thrown. */
export class StoreGuard {
  quota: string | null = null;

  async write(what: string, write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      this.quota ??= `Storage is full: ${what} could not be saved. Free space (delete checkpoints), then Resume.`;
      return false;
    }
  }
}

/** Metric rows waiting to be stored; a flush the disk refused keeps them (in order) for the next one. */
export class MetricsBuffer {
  private rows: MetricRow[];

  constructor(private readonly metrics: MetricsRepo, private readonly guard: StoreGuard, carried: MetricRow[] = []) {
    this.rows = carried;
  }

  push(row: MetricRow): void {
    this.rows.push(row);
  }

  async flush(): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    if (!(await this.guard.write('the metrics', () => this.metrics.putMetrics(rows)))) this.rows = [...rows, ...this.rows];
  }

  /** What is still unstored (a full disk), handed to the next run. */
  take(): MetricRow[] {
    const rows = this.rows;
    this.rows = [];
    return rows;
  }
}

type Live = Partial<Pick<DaemonStateRow, 'step' | 'totalSteps' | 'fileStep' | 'fileSteps' | 'loss' | 'lr' | 'tokensPerSecond'>>;

/** The trainer's heartbeat: `beat()` writes at most every `everyMs` unless forced; live numbers ride along. */
export class Pulse {
  private last = 0;

  constructor(private readonly state: DaemonStateRepo, private readonly guard: StoreGuard, private readonly everyMs = HEARTBEAT_MS, private readonly now: () => number = Date.now) {}

  async beat(live: Live = {}, force = false): Promise<void> {
    const t = this.now();
    if (!force && t - this.last < this.everyMs) return;
    this.last = t;
    await this.guard.write('the heartbeat', () => this.state.heartbeat(live));
  }
}
