/**
 * Typed live queries for the UI: each returns a Dexie liveQuery Observable over the store's tables that
 * re-emits when the rows change (in this tab or, through IndexedDB, another tab or a worker).
 */
import { liveQuery, type Observable } from 'dexie';
import type {
  CheckpointRow,
  DaemonStateRow,
  EvalRow,
  ModelRow,
  Priority,
  QueueItemRow,
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

/** Complete checkpoints (manifest rows), newest step first; all models when modelId is omitted. */
export function checkpoints$(db: WorkbenchDb, modelId?: string): Observable<CheckpointRow[]> {
  return liveQuery(async () => {
    const rows = modelId ? await db.checkpoints.where('modelId').equals(modelId).toArray() : await db.checkpoints.toArray();
    return rows.sort((a, b) => b.step - a.step || b.createdAt - a.createdAt);
  });
}

export function evals$(db: WorkbenchDb, modelId: string): Observable<EvalRow[]> {
  return liveQuery(() => db.evals.where('[modelId+step]').between([modelId, 0], [modelId, Infinity]).toArray());
}
