/**
 * Small repositories over the store: the persisted daemon state, control requests (pause/resume/stop/skip with
 * reason and timestamp), settings (key/value), models (active flag, lineage), and the metrics/evals/samples
 * history keyed by model and step, and the event log. Each takes the database as its injected I/O.
 */
import {
  MAIN_BRANCH,
  type ArchivedEvalRow,
  type ArchivedMetricRow,
  type ControlKind,
  type ControlRow,
  type DaemonStateRow,
  type EvalRow,
  type EventRow,
  type LineageEntry,
  type MetricRow,
  type ModelRow,
  type SampleRow,
  type WorkbenchDb,
} from './db.ts';

export const INITIAL_DAEMON_STATE: DaemonStateRow = {
  key: 'state',
  status: 'idle',
  currentItemId: null,
  reason: 'Fresh profile',
  since: 0,
  heartbeatAt: 0,
  step: 0,
  totalSteps: 0,
  fileStep: 0,
  fileSteps: 0,
  loss: null,
  lr: 0,
  tokensPerSecond: 0,
  backend: '',
  backendReason: '',
};

export class DaemonStateRepo {
  constructor(private readonly db: WorkbenchDb) {}

  async get(): Promise<DaemonStateRow> {
    return (await this.db.daemon.get('state')) ?? { ...INITIAL_DAEMON_STATE };
  }

  /** Merges `changes`; `since` moves only when the status changes. */
  async set(changes: Partial<Omit<DaemonStateRow, 'key'>>): Promise<DaemonStateRow> {
    return this.db.transaction('rw', this.db.daemon, async () => {
      const cur = await this.get();
      const now = Date.now();
      const next: DaemonStateRow = { ...cur, ...changes, key: 'state' };
      if (changes.heartbeatAt === undefined) next.heartbeatAt = now; // every state change is a sign of life
      if (changes.status && changes.status !== cur.status) next.since = now;
      await this.db.daemon.put(next);
      return next;
    });
  }

  /** Liveness + live numbers, written every log interval. */
  async heartbeat(live: Partial<Pick<DaemonStateRow, 'step' | 'totalSteps' | 'fileStep' | 'fileSteps' | 'loss' | 'lr' | 'tokensPerSecond'>>): Promise<void> {
    await this.db.daemon.update('state', { heartbeatAt: Date.now(), ...live });
  }
}

export class ControlRepo {
  constructor(private readonly db: WorkbenchDb) {}

  async request(kind: ControlKind, reason: string): Promise<ControlRow> {
    const row: ControlRow = { kind, reason, at: Date.now() };
    row.id = (await this.db.controls.add(row)) as number;
    return row;
  }

  /** Unhandled requests, oldest first. */
  async pending(): Promise<ControlRow[]> {
    return (await this.db.controls.orderBy('at').toArray()).filter((r) => r.handledAt === undefined);
  }

  async markHandled(id: number): Promise<void> {
    await this.db.controls.update(id, { handledAt: Date.now() });
  }

  async history(limit = 50): Promise<ControlRow[]> {
    return (await this.db.controls.orderBy('at').reverse().limit(limit).toArray());
  }
}

/** Settings key of the evolution prompts a person chose for a model. */
export const evolutionPromptsKey = (modelId: string) => `evolution.prompts.${modelId}`;

export class SettingsRepo {
  constructor(private readonly db: WorkbenchDb) {}

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.db.settings.get(key))?.value as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    await this.db.settings.put({ key, value });
  }
}

export class ModelRepo {
  constructor(private readonly db: WorkbenchDb) {}

  async active(): Promise<ModelRow | undefined> {
    return this.db.models.where('active').equals(1).first();
  }

  async get(id: string): Promise<ModelRow | undefined> {
    return this.db.models.get(id);
  }

  async list(): Promise<ModelRow[]> {
    return (await this.db.models.toArray()).sort((a, b) => a.createdAt - b.createdAt);
  }

  async put(row: ModelRow): Promise<void> {
    await this.db.models.put(row);
  }

  /** Exactly one active model. */
  async setActive(id: string): Promise<void> {
    await this.db.transaction('rw', this.db.models, async () => {
      if (!(await this.db.models.get(id))) throw new Error(`model "${id}" does not exist`);
      await this.db.models.where('active').equals(1).modify({ active: 0 });
      await this.db.models.update(id, { active: 1 });
    });
  }

  async update(id: string, changes: Partial<ModelRow>): Promise<void> {
    await this.db.models.update(id, changes);
  }

  /** Adds or extends the lineage entry of an item (same item id: its toStep and outcome move). */
  async recordLineage(id: string, entry: LineageEntry, step: number): Promise<void> {
    await this.db.transaction('rw', this.db.models, async () => {
      const m = await this.db.models.get(id);
      if (!m) throw new Error(`model "${id}" does not exist`);
      const lineage = [...m.lineage];
      const last = lineage[lineage.length - 1];
      if (last && last.itemId === entry.itemId && last.outcome === 'in_progress') lineage[lineage.length - 1] = { ...last, ...entry, fromStep: last.fromStep };
      else lineage.push(entry);
      await this.db.models.update(id, { lineage, step, trained: m.trained || step > 0 });
    });
  }
}

export class MetricsRepo {
  constructor(private readonly db: WorkbenchDb) {}

  /** Rows keyed [modelId+step]: a step redone after a crash replaces its row, never counts twice. */
  async putMetrics(rows: MetricRow[]): Promise<void> {
    if (rows.length) await this.db.metrics.bulkPut(rows);
  }

  async putEval(row: EvalRow): Promise<void> {
    await this.db.evals.put(row);
  }

  /** Stored with the model's current branch (unless the row names one). */
  async addSample(row: SampleRow): Promise<void> {
    await this.db.samples.add({ ...row, branch: row.branch ?? (await this.db.models.get(row.modelId))?.branch ?? MAIN_BRANCH });
  }

  async metrics(modelId: string, fromStep = 0): Promise<MetricRow[]> {
    return this.db.metrics.where('[modelId+step]').between([modelId, fromStep], [modelId, Infinity]).toArray();
  }

  async evals(modelId: string): Promise<EvalRow[]> {
    return this.db.evals.where('[modelId+step]').between([modelId, 0], [modelId, Infinity]).toArray();
  }

  /** The last running samples (evolution snapshots left out). */
  async samples(modelId: string, last = 50): Promise<SampleRow[]> {
    return (await this.db.samples.where('[modelId+step]').between([modelId, 0], [modelId, Infinity]).filter((r) => r.kind !== 'evolution').toArray()).slice(-last);
  }

  /** The evolution prompts the person chose for a model (the user turns), or undefined: drawn from held-out chats. */
  async chosenEvolutionPrompts(modelId: string): Promise<string[] | undefined> {
    const v = (await this.db.settings.get(evolutionPromptsKey(modelId)))?.value;
    return Array.isArray(v) && v.length > 0 ? v.map(String) : undefined;
  }

  /** The model's evolution snapshots, by step. */
  async evolution(modelId: string): Promise<SampleRow[]> {
    return this.db.samples.where('[modelId+step]').between([modelId, -Infinity], [modelId, Infinity]).filter((r) => r.kind === 'evolution').toArray();
  }

  /** A model's set-aside history (rows a rollback moved off the current line), by branch then step; one branch when given. */
  async archivedMetrics(modelId: string, branch?: string): Promise<ArchivedMetricRow[]> {
    if (branch !== undefined) return this.db.metricsArchive.where('[modelId+branch+step]').between([modelId, branch, -Infinity], [modelId, branch, Infinity]).toArray();
    return (await this.db.metricsArchive.where('modelId').equals(modelId).toArray()).sort((a, b) => (a.branch < b.branch ? -1 : a.branch > b.branch ? 1 : a.step - b.step));
  }

  async archivedEvals(modelId: string, branch?: string): Promise<ArchivedEvalRow[]> {
    if (branch !== undefined) return this.db.evalsArchive.where('[modelId+branch+step]').between([modelId, branch, -Infinity], [modelId, branch, Infinity]).toArray();
    return (await this.db.evalsArchive.where('modelId').equals(modelId).toArray()).sort((a, b) => (a.branch < b.branch ? -1 : a.branch > b.branch ? 1 : a.step - b.step));
  }

  /**
   * Drops rows after `step`: rows a crash wrote after the last checkpoint (they are redone), sample answers of the
   * model's current branch included (a set-aside branch's stay). Never for a rollback: that sets the later history
   * aside as a branch (BranchRepo.rollBack).
   */
  async truncateAfter(modelId: string, step: number): Promise<void> {
    await this.db.metrics.where('[modelId+step]').between([modelId, step + 1], [modelId, Infinity]).delete();
    await this.db.evals.where('[modelId+step]').between([modelId, step + 1], [modelId, Infinity]).delete();
    const branch = (await this.db.models.get(modelId))?.branch ?? MAIN_BRANCH;
    await this.db.samples.where('[modelId+step]').between([modelId, step + 1], [modelId, Infinity]).filter((r) => (r.branch ?? MAIN_BRANCH) === branch).delete();
  }
}

/** The event log: appended by the daemon and the supervisor, read by the page, exported with the control history. */
export class EventRepo {
  constructor(private readonly db: WorkbenchDb) {}

  async add(e: Omit<EventRow, 'id' | 'at'> & { at?: number }): Promise<EventRow> {
    const row: EventRow = { ...e, at: e.at ?? Date.now() };
    row.id = (await this.db.events.add(row)) as number;
    return row;
  }

  /** The newest `limit` events, newest first. */
  async latest(limit = 200): Promise<EventRow[]> {
    return this.db.events.orderBy('at').reverse().limit(limit).toArray();
  }

  /** Every event and every control request, oldest first, as one JSON-safe record (the page's "Export log"). */
  async exportLog(): Promise<{ exportedAt: number; events: EventRow[]; controls: ControlRow[] }> {
    return { exportedAt: Date.now(), events: await this.db.events.orderBy('at').toArray(), controls: await this.db.controls.orderBy('at').toArray() };
  }
}
