// Live training alerts, the old system's five rules ("Status shown live" in REFERENCE-SYSTEM.md), computed from the
// metric history (parallel arrays that grow in place) and the latest evaluation. `AlertMonitor` is fed the same
// history object on every update and looks only at what it needs: the rows added since the last update (for the
// throughput average) and short windows at the end (for the loss rules), so an update stays cheap at 100,000 steps.
//
// The rules, as implemented here:
// - throughput_drop: the tokens/s EMA (debiased, weight 0.9) is below 60 % of its baseline. The baseline is the EMA
//   after the 20th step of a run; a file boundary starts a new run (new EMA, new baseline), because the daemon
//   starts training afresh per file and the backend or sequence lengths may change between files.
// - val_gap: the latest evaluation's validation loss exceeds the training loss by more than 0.3 (the training loss
//   stored with the evaluation, else the latest smoothed training loss).
// - loss_variance ("loss variance high", our definition): over the last 50 logged losses, the standard deviation is
//   more than 0.5 × the mean (coefficient of variation above 0.5) and more than 0.1 in absolute terms, so a
//   converged near-zero loss with tiny jitter does not count.
// - plateau: the mean of the last 50 losses is less than 1 % below the mean of the 50 losses ending 500 steps
//   earlier. Raised at most once per 10 minutes of wall-clock time (the metric rows' `time`): once raised it stays
//   while the condition holds; if it clears, it is not raised again until 10 minutes after the last raise.
// - loss_rising: the mean of the last 10 losses is above 1.1 × the mean of the 10 before (as `lossTrend`).
import type { LossHistory } from './history-reader.ts';
import { upperBound } from './bounds.ts';

export type AlertKind = 'throughput_drop' | 'val_gap' | 'loss_variance' | 'plateau' | 'loss_rising';

export interface TrainingAlert {
  kind: AlertKind;
  /** One sentence with the numbers behind the alert. */
  message: string;
  /** The step from which the alert has held (as seen by the monitor's updates). */
  since: number;
}

/** The fields of an evaluation row the alerts read. */
export interface EvalPoint {
  step: number;
  valLoss: number;
  trainLoss: number | null;
}

/** The history columns the alerts read (LossHistory satisfies it). */
export type AlertHistory = Pick<LossHistory, 'steps' | 'loss' | 'smoothed' | 'tokensPerSecond' | 'time' | 'boundaries'>;

export const ALERT_RULES = {
  throughputEmaWeight: 0.9,
  throughputBaselineSteps: 20,
  throughputFraction: 0.6,
  valGap: 0.3,
  varianceWindow: 50,
  varianceCv: 0.5,
  varianceMinStd: 0.1,
  plateauSpan: 500,
  plateauWindow: 50,
  plateauMinImprovement: 0.01,
  plateauEveryMs: 10 * 60 * 1000,
  risingWindow: 10,
  risingFactor: 1.1,
} as const;

const ORDER: readonly AlertKind[] = ['throughput_drop', 'val_gap', 'loss_variance', 'plateau', 'loss_rising'];

const fmt = (x: number, digits = 2) => x.toFixed(digits);
const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** The last `n` non-null finite losses ending at index `end` (inclusive), oldest first; fewer if the history is short. */
function lastLosses(loss: readonly (number | null)[], end: number, n: number): number[] {
  const out: number[] = [];
  for (let i = end; i >= 0 && out.length < n; i--) {
    const v = loss[i];
    if (v != null && Number.isFinite(v)) out.push(v);
  }
  return out.reverse();
}

const mean = (a: readonly number[]) => a.reduce((s, x) => s + x, 0) / a.length;

/** Index of the last row whose step is ≤ `step` (-1 if none); steps ascend. */
const lastIndexAtOrBefore = (steps: readonly number[], step: number) => upperBound(steps, step) - 1;

/** Incremental alert computation over one model's growing history; a different history (new arrays) starts over. */
export class AlertMonitor {
  private stepsRef: readonly number[] | null = null;
  private done = 0;
  private boundaryIdx = 0;
  // Throughput state of the current run (file).
  private ema = 0;
  private emaN = 0;
  private runRows = 0;
  private baseline: { value: number; step: number } | null = null;
  private dropSince: number | null = null;
  // Plateau throttle and the `since` of the rules evaluated per update.
  private plateauRaisedAt: number | null = null;
  private plateauActive = false;
  private readonly since = new Map<AlertKind, number>();

  /** The alerts active after the rows now in `history`, in a fixed order. */
  update(history: AlertHistory, latestEval?: EvalPoint | null): TrainingAlert[] {
    if (history.steps !== this.stepsRef || history.steps.length < this.done) this.reset(history.steps);
    const n = history.steps.length;
    for (let i = this.done; i < n; i++) this.observeThroughput(history, i);
    this.done = n;

    const found: Omit<TrainingAlert, 'since'>[] = [];
    const last = n - 1;
    const step = n ? history.steps[last] : 0;
    const t = this.throughputAlert();
    if (t) found.push(t);
    const g = latestEval ? this.valGapAlert(history, last, latestEval) : null;
    if (g) found.push(g);
    if (n) {
      const v = varianceAlert(history, last);
      if (v) found.push(v);
      const p = this.plateauAlert(history, last);
      if (p) found.push(p);
      const r = risingAlert(history, last);
      if (r) found.push(r);
    }

    const active = new Set(found.map((a) => a.kind));
    for (const k of ORDER) if (!active.has(k)) this.since.delete(k);
    return found
      .map((a) => {
        if (a.kind === 'throughput_drop' && this.dropSince !== null) return { ...a, since: this.dropSince };
        let since = this.since.get(a.kind);
        if (since === undefined) {
          since = a.kind === 'val_gap' && latestEval ? latestEval.step : step;
          this.since.set(a.kind, since);
        }
        return { ...a, since };
      })
      .sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  }

  private reset(steps: readonly number[]): void {
    this.stepsRef = steps;
    this.done = 0;
    this.boundaryIdx = 0;
    this.startRun();
    this.plateauRaisedAt = null;
    this.plateauActive = false;
    this.since.clear();
  }

  private startRun(): void {
    this.ema = 0;
    this.emaN = 0;
    this.runRows = 0;
    this.baseline = null;
    this.dropSince = null;
  }

  private observeThroughput(h: AlertHistory, i: number): void {
    const step = h.steps[i];
    let newRun = false;
    while (this.boundaryIdx < h.boundaries.length && h.boundaries[this.boundaryIdx] <= step) {
      if (h.boundaries[this.boundaryIdx] === step) newRun = true;
      this.boundaryIdx++;
    }
    if (newRun) this.startRun();
    const tps = h.tokensPerSecond[i];
    if (!(Number.isFinite(tps) && tps > 0)) return;
    const w = ALERT_RULES.throughputEmaWeight;
    this.ema = w * this.ema + (1 - w) * tps;
    this.emaN++;
    this.runRows++;
    const value = this.ema / (1 - w ** this.emaN);
    if (!this.baseline) {
      if (this.runRows >= ALERT_RULES.throughputBaselineSteps) this.baseline = { value, step };
      return;
    }
    if (value < ALERT_RULES.throughputFraction * this.baseline.value) this.dropSince ??= step;
    else this.dropSince = null;
  }

  private throughputAlert(): Omit<TrainingAlert, 'since'> | null {
    if (!this.baseline || this.dropSince === null || this.emaN === 0) return null;
    const value = this.ema / (1 - ALERT_RULES.throughputEmaWeight ** this.emaN);
    const pct = Math.round((100 * value) / this.baseline.value);
    return {
      kind: 'throughput_drop',
      message: `Throughput ${count(value)} tok/s is ${pct} % of its baseline ${count(this.baseline.value)} tok/s (taken after step ${count(this.baseline.step)}).`,
    };
  }

  private valGapAlert(h: AlertHistory, last: number, e: EvalPoint): Omit<TrainingAlert, 'since'> | null {
    const train = e.trainLoss ?? (last >= 0 ? h.smoothed[last] : null);
    if (train == null || !Number.isFinite(train) || !Number.isFinite(e.valLoss)) return null;
    const gap = e.valLoss - train;
    if (!(gap > ALERT_RULES.valGap)) return null;
    return {
      kind: 'val_gap',
      message: `Validation loss ${fmt(e.valLoss)} is ${fmt(gap)} above the training loss ${fmt(train)} at step ${count(e.step)} (over ${ALERT_RULES.valGap} suggests overfitting).`,
    };
  }

  private plateauAlert(h: AlertHistory, last: number): Omit<TrainingAlert, 'since'> | null {
    const { plateauSpan, plateauWindow, plateauMinImprovement, plateauEveryMs } = ALERT_RULES;
    const now = h.time[last];
    const earlierEnd = lastIndexAtOrBefore(h.steps, h.steps[last] - plateauSpan);
    let holds = false;
    let before = 0;
    let after = 0;
    if (earlierEnd >= 0) {
      const a = lastLosses(h.loss, earlierEnd, plateauWindow);
      const b = lastLosses(h.loss, last, plateauWindow);
      if (a.length === plateauWindow && b.length === plateauWindow) {
        before = mean(a);
        after = mean(b);
        holds = before > 0 && (before - after) / before < plateauMinImprovement;
      }
    }
    if (!holds) {
      this.plateauActive = false;
      return null;
    }
    if (!this.plateauActive) {
      if (this.plateauRaisedAt !== null && now - this.plateauRaisedAt < plateauEveryMs) return null;
      this.plateauActive = true;
      this.plateauRaisedAt = now;
    }
    const improvement = (100 * (before - after)) / before;
    return {
      kind: 'plateau',
      message: `Loss plateau: the mean loss ${fmt(after, 3)} is only ${fmt(improvement, 1)} % below ${fmt(before, 3)} of ${count(plateauSpan)} steps earlier (under ${100 * plateauMinImprovement} %).`,
    };
  }
}

function varianceAlert(h: AlertHistory, last: number): Omit<TrainingAlert, 'since'> | null {
  const { varianceWindow, varianceCv, varianceMinStd } = ALERT_RULES;
  const xs = lastLosses(h.loss, last, varianceWindow);
  if (xs.length < varianceWindow) return null;
  const m = mean(xs);
  const std = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
  if (!(m > 0 && std > varianceCv * m && std > varianceMinStd)) return null;
  return {
    kind: 'loss_variance',
    message: `Loss varies widely: its standard deviation ${fmt(std)} over the last ${varianceWindow} steps is ${Math.round((100 * std) / m)} % of the mean ${fmt(m)} (over ${100 * varianceCv} %).`,
  };
}

function risingAlert(h: AlertHistory, last: number): Omit<TrainingAlert, 'since'> | null {
  const { risingWindow, risingFactor } = ALERT_RULES;
  const xs = lastLosses(h.loss, last, 2 * risingWindow);
  if (xs.length < 2 * risingWindow) return null;
  const before = mean(xs.slice(0, risingWindow));
  const recent = mean(xs.slice(risingWindow));
  if (!(recent > risingFactor * before)) return null;
  return {
    kind: 'loss_rising',
    message: `Loss rising: the mean of the last ${risingWindow} steps ${fmt(recent, 3)} is ${fmt(recent / before)} × the mean of the ${risingWindow} before (${fmt(before, 3)}; over ${risingFactor} × counts).`,
  };
}
