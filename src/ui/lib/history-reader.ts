// Incremental readers of a model's training history in the store, for the live page: the metric rows as parallel
// arrays (uPlot's layout) that grow in place, read in chunks with a yield between them so a 100,000-step history
// loads without one long main-thread task; the set-aside branches' loss (rows a rollback archived), one history per
// branch; and the running count of sample answers, from the rows added since the last count. Plain TypeScript over
// the Dexie database (tested in Node with fake-indexeddb).
import type { ArchivedEvalRow, ArchivedMetricRow, MetricRow, ModelRow, WorkbenchDb } from '../../store/db.ts';
import { MAIN_BRANCH } from '../../store/db.ts';
import { branchesOf, forkStep, lineOf, ownerAt } from '../../store/branches.ts';
import { EtaEstimator } from './eta.ts';
import { DebiasedEma, debiasedEma } from './smoothing.ts';

/** Loss history as parallel arrays (uPlot's data layout), steps ascending. */
export interface LossHistory {
  steps: number[];
  loss: (number | null)[];
  smoothed: (number | null)[];
  lr: number[];
  tokensPerSecond: number[];
  tokens: number[];
  gradNorm: (number | null)[];
  /** Wall-clock ms of each row. */
  time: number[];
  /** Steps where the item changed (file boundaries). */
  boundaries: number[];
}

export const emptyHistory = (): LossHistory => ({ steps: [], loss: [], smoothed: [], lr: [], tokensPerSecond: [], tokens: [], gradNorm: [], time: [], boundaries: [] });

/** Rows read per query (about 5–15 ms of main-thread work each in Chromium here). */
export const HISTORY_CHUNK = 2000;

const nextTask = () => new Promise<void>((r) => setTimeout(r, 0));

export class MetricHistoryReader {
  /** The history read so far; its arrays grow in place (publish a shallow copy to make a change visible). */
  readonly history: LossHistory = emptyHistory();
  private ema: DebiasedEma;
  private readonly eta = new EtaEstimator(0.2);
  private item: number | undefined;
  private cancelled = false;
  private reading = false;

  constructor(
    private readonly db: WorkbenchDb,
    readonly modelId: string,
    smoothing: number,
    private readonly chunk = HISTORY_CHUNK,
    private readonly yieldTask: () => Promise<void> = nextTask,
  ) {
    this.ema = new DebiasedEma(smoothing);
  }

  /** Learned ms per token over the rows read (null before any). */
  get msPerToken(): number | null {
    return this.eta.rate;
  }

  /** Stops a read in progress at its next chunk (the model changed). */
  cancel(): void {
    this.cancelled = true;
  }

  /**
   * Appends the rows past the last step read (an indexed range query, `chunk` rows at a time with a yield to the
   * event loop between chunks). Returns how many rows were added; 0 when nothing new, cancelled, or a read is
   * already running.
   */
  async readNew(): Promise<number> {
    if (this.reading || this.cancelled) return 0;
    this.reading = true;
    let added = 0;
    try {
      for (;;) {
        const h = this.history;
        const from = h.steps.length ? h.steps[h.steps.length - 1] : -Infinity;
        const rows: MetricRow[] = await this.db.metrics
          .where('[modelId+step]')
          .between([this.modelId, from], [this.modelId, Infinity], false, true)
          .limit(this.chunk)
          .toArray();
        if (this.cancelled) return 0;
        this.append(rows);
        added += rows.length;
        if (rows.length < this.chunk) return added;
        await this.yieldTask();
        if (this.cancelled) return 0;
      }
    } finally {
      this.reading = false;
    }
  }

  /** A new smoothing weight: the smoothed series is recomputed (a new array) and later rows continue from it. */
  setSmoothing(weight: number): void {
    const ema = new DebiasedEma(weight);
    this.history.smoothed = this.history.loss.map((l) => (l == null ? null : ema.push(l)));
    this.ema = ema;
  }

  private append(rows: readonly MetricRow[]): void {
    const h = this.history;
    for (const r of rows) {
      if (this.item !== undefined && r.itemId !== this.item) h.boundaries.push(r.step);
      this.item = r.itemId;
      this.eta.observe({ tokens: r.tokens, ms: r.ms });
      h.steps.push(r.step);
      h.loss.push(r.loss);
      h.smoothed.push(r.loss == null ? null : this.ema.push(r.loss));
      h.lr.push(r.lr);
      h.tokensPerSecond.push(r.tokensPerSecond);
      h.tokens.push(r.tokens);
      h.gradNorm.push(r.gradNorm);
      h.time.push(r.time);
    }
  }
}

/** The loss history of one set-aside branch (its rows a rollback moved off the current line), steps ascending. */
export interface BranchHistory {
  id: string;
  name: string;
  steps: number[];
  loss: (number | null)[];
  smoothed: (number | null)[];
  tokens: number[];
  /** Wall-clock ms of each row. */
  time: number[];
  /** Its validation losses. */
  evals: { step: number; valLoss: number }[];
  /**
   * The last step it shares with the current line when the rows before its first are the current line's (its curve
   * goes on from the current line's there); null when it goes on from another set-aside branch.
   */
  fork: number | null;
}

/**
 * The set-aside branches of a model with their loss, in the order the branches were made (empty before any
 * rollback). Each branch is read `chunk` rows at a time by its [modelId+branch+step] range, with a yield between
 * chunks; `cancelled()` stops the read (null is returned).
 */
export async function readBranchHistories(
  db: WorkbenchDb,
  model: Pick<ModelRow, 'id' | 'branch' | 'branches' | 'createdAt'>,
  smoothing: number,
  opts: { chunk?: number; yieldTask?: () => Promise<void>; cancelled?: () => boolean } = {},
): Promise<BranchHistory[] | null> {
  const chunk = opts.chunk ?? HISTORY_CHUNK;
  const pause = opts.yieldTask ?? nextTask;
  const out: BranchHistory[] = [];
  if (!model.branches?.length) return out;
  const records = branchesOf(model);
  for (const b of records) {
    const h: BranchHistory = { id: b.id, name: b.name, steps: [], loss: [], smoothed: [], tokens: [], time: [], evals: [], fork: null };
    for (let from = -Infinity; ; ) {
      const rows: ArchivedMetricRow[] = await db.metricsArchive.where('[modelId+branch+step]').between([model.id, b.id, from], [model.id, b.id, Infinity], false, true).limit(chunk).toArray();
      if (opts.cancelled?.()) return null;
      for (const r of rows) {
        h.steps.push(r.step);
        h.loss.push(r.loss);
        h.tokens.push(r.tokens);
        h.time.push(r.time);
      }
      if (rows.length < chunk) break;
      from = rows[rows.length - 1].step;
      await pause();
    }
    if (h.steps.length === 0) continue;
    const evals: ArchivedEvalRow[] = await db.evalsArchive.where('[modelId+branch+step]').between([model.id, b.id, -Infinity], [model.id, b.id, Infinity]).toArray();
    h.evals = evals.map((e) => ({ step: e.step, valLoss: e.valLoss }));
    h.smoothed = debiasedEma(h.loss, smoothing);
    out.push(h);
  }
  const current = lineOf(records, model.branch ?? MAIN_BRANCH);
  for (const h of out) {
    const own = lineOf(records, h.id);
    const f = forkStep(own, current);
    const between = out.some((o) => o !== h && o.steps.some((s) => s > f && s < h.steps[0] && ownerAt(own, s) === o.id));
    h.fork = between ? null : f;
  }
  return out;
}

/** The same branches with their smoothed loss for a new smoothing weight (new objects; the raw arrays are shared). */
export function resmoothBranches(branches: readonly BranchHistory[], weight: number): BranchHistory[] {
  return branches.map((b) => ({ ...b, smoothed: debiasedEma(b.loss, weight) }));
}

/** Running count of a model's sample answers (overall correct / total), from the rows stored since the last count. */
export class SampleTotals {
  private lastId = 0;
  private correct = 0;
  private total = 0;
  private busy: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: WorkbenchDb,
    readonly modelId: string,
    private readonly chunk = HISTORY_CHUNK,
  ) {}

  /** Reads the samples added since the last call (ids only grow) and returns the totals. */
  async update(): Promise<{ correct: number; total: number }> {
    if (this.busy) {
      this.again = true; // the running read goes round once more
      await this.busy;
    } else {
      this.busy = this.readAll().finally(() => (this.busy = null));
      await this.busy;
    }
    return { correct: this.correct, total: this.total };
  }

  private async readAll(): Promise<void> {
    do {
      this.again = false;
      for (;;) {
        const rows = await this.db.samples.where('id').above(this.lastId).limit(this.chunk).toArray();
        for (const r of rows) {
          this.lastId = Math.max(this.lastId, r.id ?? 0);
          if (r.modelId !== this.modelId || r.kind === 'evolution') continue;
          this.total++;
          if (r.match) this.correct++;
        }
        if (rows.length < this.chunk) break;
      }
    } while (this.again);
  }
}
