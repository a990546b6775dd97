// The page's live state: Dexie liveQuery subscriptions on the store (daemon state, queue, models, checkpoints,
// latest metrics) and an incremental reader of the loss history, as Svelte 5 runes. Components read from here and
// send commands through the daemon's WorkbenchApi; nothing here trains or decides queue order.
import { liveQuery, type Subscription } from 'dexie';
import type { CheckpointRow, DaemonStateRow, EvalRow, MetricRow, ModelRow, Priority, QueueItemRow, SampleRow, WorkbenchDb } from '../../store/db.ts';
import { PRIORITIES } from '../../store/db.ts';
import { checkpoints$, daemonState$, evals$, models$, queueItems$, samples$ } from '../../store/queries.ts';
import { EtaEstimator, queueStepsLeft, stepsLeft, type StepsConfig } from '../lib/eta.ts';
import { DebiasedEma } from '../lib/smoothing.ts';

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

const emptyHistory = (): LossHistory => ({ steps: [], loss: [], smoothed: [], lr: [], tokensPerSecond: [], tokens: [], gradNorm: [], time: [], boundaries: [] });

export class WorkbenchState {
  daemon = $state<DaemonStateRow | undefined>(undefined);
  queue = $state.raw<QueueItemRow[]>([]);
  models = $state.raw<ModelRow[]>([]);
  /** Complete checkpoints of the active model, newest step first. */
  checkpoints = $state.raw<CheckpointRow[]>([]);
  history = $state.raw<LossHistory>(emptyHistory());
  evals = $state.raw<EvalRow[]>([]);
  /** The last 5 sample answers, oldest first. */
  samples = $state.raw<SampleRow[]>([]);
  /** Match flags of the last 50 sample answers (oldest first) and the overall counts, for running accuracy. */
  recentMatches = $state.raw<boolean[]>([]);
  matchTotals = $state.raw<{ correct: number; total: number }>({ correct: 0, total: 0 });
  storage = $state<{ usage: number; quota: number; persisted: boolean } | undefined>(undefined);
  /** Smoothing weight of the loss chart and the smoothed loss (W&B style), 0–0.99. */
  smoothing = $state(0.9);
  etaMsPerToken = $state<number | null>(null);
  /** 'waiting' when another tab holds the training lock: this tab only watches. */
  role = $state<'trainer' | 'waiting'>('trainer');

  activeModel = $derived(this.models.find((m) => m.active === 1));
  currentItem = $derived(this.queue.find((q) => q.id === this.daemon?.currentItemId));
  lastMetric = $derived.by(() => {
    const h = this.history;
    const n = h.steps.length;
    if (n === 0) return undefined;
    let lastLoss: number | null = null;
    let lastSmoothed: number | null = null;
    for (let i = n - 1; i >= 0 && lastLoss == null; i--) {
      lastLoss = h.loss[i];
      lastSmoothed = h.smoothed[i];
    }
    return { step: h.steps[n - 1], loss: lastLoss, smoothed: lastSmoothed, lr: h.lr[n - 1], tokensPerSecond: h.tokensPerSecond[n - 1], tokensPerStep: h.tokens[n - 1] };
  });
  /** Queue items grouped by priority, oldest (lowest order) first inside a group. */
  groups = $derived(
    PRIORITIES.map((p) => ({ priority: p as Priority, items: this.queue.filter((q) => q.priority === p).sort((a, b) => a.order - b.order) })),
  );

  private subs: Subscription[] = [];
  private timers: ReturnType<typeof setInterval>[] = [];
  private historyModel: string | undefined;
  private historyItem: number | undefined;
  private ema = new DebiasedEma(0.9);
  private eta = new EtaEstimator(0.2);
  private reading = false;

  constructor(
    private readonly db: WorkbenchDb,
    private readonly storageEstimate: () => Promise<{ usage: number; quota: number; persisted: boolean }>,
  ) {}

  start(): void {
    this.subs.push(
      daemonState$(this.db).subscribe({ next: (d) => (this.daemon = d), error: console.error }),
      queueItems$(this.db).subscribe({ next: (q) => (this.queue = q), error: console.error }),
      models$(this.db).subscribe({
        next: (m) => {
          this.models = m;
          this.watchModel(m.find((x) => x.active === 1)?.id);
        },
        error: console.error,
      }),
    );
    this.timers.push(setInterval(() => void this.readNewMetrics(), 1000));
    const storage = () => this.storageEstimate().then((s) => (this.storage = s), () => undefined);
    void storage();
    this.timers.push(setInterval(storage, 15_000));
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const t of this.timers) clearInterval(t);
    this.subs = [];
    this.timers = [];
  }

  setRole(role: 'trainer' | 'waiting'): void {
    this.role = role;
  }

  /** Changes the smoothing weight and recomputes the smoothed series. */
  setSmoothing(weight: number): void {
    this.smoothing = weight;
    const ema = new DebiasedEma(weight);
    const smoothed = this.history.loss.map((l) => (l == null ? null : ema.push(l)));
    this.ema = ema;
    this.history = { ...this.history, smoothed };
  }

  private modelSubs: Subscription[] = [];
  private watchModel(modelId: string | undefined): void {
    if (modelId === this.historyModel) return;
    for (const s of this.modelSubs) s.unsubscribe();
    this.modelSubs = [];
    this.historyModel = modelId;
    this.historyItem = undefined;
    this.history = emptyHistory();
    this.ema = new DebiasedEma(this.smoothing);
    this.eta = new EtaEstimator(0.2);
    if (!modelId) return;
    this.modelSubs.push(
      checkpoints$(this.db, modelId).subscribe({ next: (c) => (this.checkpoints = c), error: console.error }),
      evals$(this.db, modelId).subscribe({ next: (e) => (this.evals = e), error: console.error }),
      samples$(this.db, modelId, 50).subscribe({
        next: (s) => {
          this.samples = s.slice(-5);
          this.recentMatches = s.map((x) => x.match);
        },
        error: console.error,
      }),
      liveQuery(async () => {
        let correct = 0;
        let total = 0;
        await this.db.samples.where('modelId').equals(modelId).each((x) => {
          total++;
          if (x.match) correct++;
        });
        return { correct, total };
      }).subscribe({ next: (t) => (this.matchTotals = t), error: console.error }),
    );
    void this.readNewMetrics();
  }

  /** Appends metric rows past the last step read (indexed range query), so a 100k-step history loads once. */
  private async readNewMetrics(): Promise<void> {
    const modelId = this.historyModel;
    if (!modelId || this.reading) return;
    this.reading = true;
    try {
      const h = this.history;
      const from = h.steps.length ? h.steps[h.steps.length - 1] + 1 : 0;
      const rows: MetricRow[] = await this.db.metrics.where('[modelId+step]').between([modelId, from], [modelId, Infinity], true, true).toArray();
      if (rows.length === 0 || modelId !== this.historyModel) return;
      const next: LossHistory = {
        steps: h.steps.slice(),
        loss: h.loss.slice(),
        smoothed: h.smoothed.slice(),
        lr: h.lr.slice(),
        tokensPerSecond: h.tokensPerSecond.slice(),
        tokens: h.tokens.slice(),
        gradNorm: h.gradNorm.slice(),
        time: h.time.slice(),
        boundaries: h.boundaries.slice(),
      };
      for (const r of rows) {
        if (this.historyItem !== undefined && r.itemId !== this.historyItem) next.boundaries.push(r.step);
        this.historyItem = r.itemId;
        next.steps.push(r.step);
        next.loss.push(r.loss);
        next.smoothed.push(r.loss == null ? null : this.ema.push(r.loss));
        next.lr.push(r.lr);
        next.tokensPerSecond.push(r.tokensPerSecond);
        next.tokens.push(r.tokens);
        next.gradNorm.push(r.gradNorm);
        next.time.push(r.time);
        this.eta.observe({ tokens: r.tokens, ms: r.ms });
      }
      this.history = next;
      this.etaMsPerToken = this.eta.rate;
    } finally {
      this.reading = false;
    }
  }

  /** Config fields that size queued files in steps (set by the page from the daemon's config). */
  stepsConfig = $state<StepsConfig | undefined>(undefined);

  /** Seconds left for the current file and for the whole queue, from the learned time per token. */
  etaSeconds = $derived.by(() => {
    const rate = this.etaMsPerToken;
    const tokensPerStep = this.lastMetric?.tokensPerStep ?? 0;
    if (rate == null || tokensPerStep <= 0) return { file: null, queue: null };
    const secondsForSteps = (steps: number) => (Math.max(0, steps) * tokensPerStep * rate) / 1000;
    const d = this.daemon;
    const live = d ? { itemId: d.currentItemId, fileStep: d.fileStep ?? 0, fileSteps: d.fileSteps ?? 0 } : undefined;
    const cur = this.currentItem;
    const curLeft = cur ? stepsLeft(cur, live, this.stepsConfig) : null;
    const q = queueStepsLeft(this.queue, live, this.stepsConfig);
    return { file: curLeft == null ? null : secondsForSteps(curLeft), queue: q.steps === 0 && q.unknown > 0 ? null : secondsForSteps(q.steps) };
  });
}
