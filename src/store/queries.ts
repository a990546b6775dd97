/**
 * Typed live queries for the UI: each returns a Dexie liveQuery Observable over the store's tables that
 * re-emits when the rows change (in this tab or, through IndexedDB, another tab or a worker).
 */
import { liveQuery, type Observable } from 'dexie';
import type {
  CheckpointRow,
  ControlRow,
  DaemonStateRow,
  EvalRow,
  MetricRow,
  ModelRow,
  Priority,
  QueueItemRow,
  SampleRow,
  WorkbenchDb,
} from './db.ts';

const RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

export function queueItems$(db: WorkbenchDb): Observable<QueueItemRow[]> {
  return liveQuery(async () => (await db.queue.toArray()).sort((a, b) => RANK[a.priority] - RANK[b.priority] || a.order - b.order));
}

export function daemonState$(db: WorkbenchDb): Observable<DaemonStateRow | undefined> {
  return liveQuery(() => db.daemon.get('state'));
}

export function models$(db: WorkbenchDb): Observable<ModelRow[]> {
  return liveQuery(async () => (await db.models.toArray()).sort((a, b) => a.createdAt - b.createdAt));
}

export function activeModel$(db: WorkbenchDb): Observable<ModelRow | undefined> {
  return liveQuery(() => db.models.where('active').equals(1).first());
}

/** Complete checkpoints (manifest rows), newest step first; all models when modelId is omitted. */
export function checkpoints$(db: WorkbenchDb, modelId?: string): Observable<CheckpointRow[]> {
  return liveQuery(async () => {
    const rows = modelId ? await db.checkpoints.where('modelId').equals(modelId).toArray() : await db.checkpoints.toArray();
    return rows.sort((a, b) => b.step - a.step || b.createdAt - a.createdAt);
  });
}

/** Metrics of a model from `fromStep` on, by step (pass the last step seen to fetch only new rows). */
export function metrics$(db: WorkbenchDb, modelId: string, fromStep = 0): Observable<MetricRow[]> {
  return liveQuery(() => db.metrics.where('[modelId+step]').between([modelId, fromStep], [modelId, Infinity]).toArray());
}

export function evals$(db: WorkbenchDb, modelId: string): Observable<EvalRow[]> {
  return liveQuery(() => db.evals.where('[modelId+step]').between([modelId, 0], [modelId, Infinity]).toArray());
}

/** The last `last` sample answers of a model, oldest first. */
export function samples$(db: WorkbenchDb, modelId: string, last = 50): Observable<SampleRow[]> {
  return liveQuery(async () => (await db.samples.where('[modelId+step]').between([modelId, 0], [modelId, Infinity]).toArray()).slice(-last));
}

export function controls$(db: WorkbenchDb, limit = 20): Observable<ControlRow[]> {
  return liveQuery(() => db.controls.orderBy('at').reverse().limit(limit).toArray());
}

export function setting$<T>(db: WorkbenchDb, key: string): Observable<T | undefined> {
  return liveQuery(async () => (await db.settings.get(key))?.value as T | undefined);
}
