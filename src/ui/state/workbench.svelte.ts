// The page's live state: Dexie liveQuery subscriptions on the store (daemon state, queue, models, checkpoints,
// latest metrics) and an incremental reader of the loss history, as Svelte 5 runes. Components read from here and
// send commands through the daemon's WorkbenchApi; nothing here trains or decides queue order.
import { liveQuery, type Subscription } from 'dexie';
import type { CheckpointRow, DaemonStateRow, EvalRow, ModelRow, Priority, QueueItemRow, SampleRow, WorkbenchDb } from '../../store/db.ts';
import { PRIORITIES } from '../../store/db.ts';
import { checkpoints$, daemonState$, evals$, models$, queueItems$ } from '../../store/queries.ts';
import { queueStepsLeft, stepsLeft, type StepsConfig } from '../lib/eta.ts';
import { MetricHistoryReader, SampleTotals, emptyHistory, readBranchHistories, resmoothBranches, type BranchHistory, type LossHistory } from '../lib/history-reader.ts';
import { MAIN_BRANCH } from '../../store/db.ts';
import { onCurrentLine } from '../../store/branches.ts';
import type { GpuAdapterSummary } from '../../engine/backend.ts';
import { DEVICE_MEMORY_SETTING, deviceMemory } from '../../daemon/preflight.ts';
import { SettingsRepo } from '../../store/state.ts';

/** What the page's WebGPU adapter says about itself and its buffer limits (null: no WebGPU adapter). */
export interface AdapterProbe {
  info: GpuAdapterSummary;
  maxStorageBufferBindingSize?: number;
  maxBufferSize?: number;
}

interface GpuLike {
  requestAdapter(): Promise<{
    info?: Omit<GpuAdapterSummary, 'isFallbackAdapter'> & { isFallbackAdapter?: boolean };
    isFallbackAdapter?: boolean;
    limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  } | null>;
}

/** Asks for the WebGPU adapter once: its info (for the device-memory table) and buffer limits. */
async function probeAdapter(): Promise<AdapterProbe | null> {
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  try {
    const a = gpu ? await gpu.requestAdapter() : null;
    if (!a) return null;
    const i = a.info ?? {};
    return {
      info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: a.isFallbackAdapter ?? i.isFallbackAdapter ?? false },
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
      maxBufferSize: a.limits.maxBufferSize,
    };
  } catch {
    return null;
  }
}

export type { BranchHistory, LossHistory } from '../lib/history-reader.ts';

export class WorkbenchState {
  daemon = $state<DaemonStateRow | undefined>(undefined);
  queue = $state.raw<QueueItemRow[]>([]);
  models = $state.raw<ModelRow[]>([]);
  /** Complete checkpoints of the active model, newest step first. */
  checkpoints = $state.raw<CheckpointRow[]>([]);
  history = $state.raw<LossHistory>(emptyHistory());
  /** The active model's set-aside branches (history a rollback moved off the current line), each with its loss. */
  branches = $state.raw<BranchHistory[]>([]);
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
  /** Device memory in bytes the person set in the memory panel (settings DEVICE_MEMORY_SETTING; null: not set). */
  deviceMemorySetting = $state<number | null>(null);
  /** The page's WebGPU adapter (undefined until asked, null when there is none). */
  adapter = $state.raw<AdapterProbe | null | undefined>(undefined);
  /** The device memory to check training against: the setting, else the known-adapter table, else unknown. */
  device = $derived(deviceMemory(this.deviceMemorySetting, this.adapter?.info));

  activeModel = $derived(this.models.find((m) => m.active === 1));
  /** The name of the branch the active model's current run is on ('main' before any rollback). */
  lineName = $derived.by(() => {
    const m = this.activeModel;
    const id = m?.branch ?? MAIN_BRANCH;
    return m?.branches?.find((b) => b.id === id)?.name ?? id;
  });
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
  private reader: MetricHistoryReader | undefined;
  private totals: SampleTotals | undefined;

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
          this.watchModel(m.find((x) => x.active === 1));
        },
        error: console.error,
      }),
    );
    this.subs.push(
      liveQuery(() => this.db.settings.get(DEVICE_MEMORY_SETTING)).subscribe({
        next: (row) => (this.deviceMemorySetting = typeof row?.value === 'number' && row.value > 0 ? row.value : null),
        error: console.error,
      }),
    );
    void probeAdapter().then((a) => (this.adapter = a));
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

  /** Stores the device memory (bytes; null: forget it and use the adapter table's guess again). */
  async setDeviceMemory(bytes: number | null): Promise<void> {
    if (bytes !== null && !(Number.isFinite(bytes) && bytes > 0)) throw new Error(`device memory must be a positive number of bytes, got ${bytes}`);
    await new SettingsRepo(this.db).set(DEVICE_MEMORY_SETTING, bytes);
  }

  /** Changes the smoothing weight and recomputes the smoothed series. */
  setSmoothing(weight: number): void {
    this.smoothing = weight;
    this.branches = resmoothBranches(this.branches, weight);
    if (!this.reader) return;
    this.reader.setSmoothing(weight);
    this.history = { ...this.reader.history };
  }

  /** The model and branch the history was read for: a rollback that took effect starts the current line anew. */
  private historyLine: string | undefined;
  private branchRead = 0;
  /** Reads the current line's history again from the start, and the set-aside branches. */
  private watchLine(model: ModelRow | undefined): void {
    const line = model ? `${model.id}|${model.branch ?? MAIN_BRANCH}|${model.branches?.length ?? 0}` : undefined;
    if (line === this.historyLine) return;
    this.historyLine = line;
    this.reader?.cancel();
    this.reader = model ? new MetricHistoryReader(this.db, model.id, this.smoothing) : undefined;
    this.history = emptyHistory();
    this.etaMsPerToken = null;
    this.branches = [];
    const read = ++this.branchRead;
    if (!model) return;
    void this.readNewMetrics();
    const weight = this.smoothing;
    readBranchHistories(this.db, model, weight, { cancelled: () => read !== this.branchRead }).then((b) => {
      if (b && read === this.branchRead) this.branches = this.smoothing === weight ? b : resmoothBranches(b, this.smoothing);
    }, console.error);
  }

  private modelSubs: Subscription[] = [];
  private watchModel(model: ModelRow | undefined): void {
    const modelId = model?.id;
    this.watchLine(model);
    if (modelId === this.historyModel) return;
    for (const s of this.modelSubs) s.unsubscribe();
    this.modelSubs = [];
    this.historyModel = modelId;
    const totals = (this.totals = modelId ? new SampleTotals(this.db, modelId) : undefined);
    this.matchTotals = { correct: 0, total: 0 };
    if (!modelId) return;
    this.modelSubs.push(
      checkpoints$(this.db, modelId).subscribe({ next: (c) => (this.checkpoints = c), error: console.error }),
      evals$(this.db, modelId).subscribe({ next: (e) => (this.evals = e), error: console.error }),
      // The last 50 samples by a reverse, limited index read (not the whole table on every new sample), those of the
      // current line (not of a set-aside branch), evolution snapshots left out; the overall counts grow from the rows
      // added since the last read (by primary key).
      liveQuery(async () => {
        const rows = (await this.db.samples.where('[modelId+step]').between([modelId, -Infinity], [modelId, Infinity]).reverse().filter((r) => r.kind !== 'evolution').limit(50).toArray()).reverse();
        const m = await this.db.models.get(modelId);
        if (!m?.branches?.length) return rows;
        return rows.filter(onCurrentLine(m));
      }).subscribe({
        next: (s) => {
          this.samples = s.slice(-5);
          this.recentMatches = s.map((x) => x.match);
          totals!.update().then((t) => {
            if (this.totals === totals) this.matchTotals = t;
          }, console.error);
        },
        error: console.error,
      }),
    );
  }

  /** Appends the metric rows stored since the last read (see MetricHistoryReader) and publishes the history. */
  private async readNewMetrics(): Promise<void> {
    const r = this.reader;
    if (!r) return;
    const added = await r.readNew();
    if (added === 0 || r !== this.reader) return;
    this.history = { ...r.history };
    this.etaMsPerToken = r.msPerToken;
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
