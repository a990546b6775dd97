/**
 * What the store holds, by category, for the health panel: checkpoints per model (their manifests' byte counts),
 * dropped datasets, imported model files, and the history tables (metrics, evals, samples, archives, events), whose
 * size is estimated from their row counts and one row's JSON length. Reads manifests and row counts, never chunks.
 */
import type { WorkbenchDb } from './db.ts';

export interface StorageCategory {
  /** 'checkpoints', 'datasets', 'imported models', 'metrics and history'. */
  category: string;
  /** For checkpoints: the model. */
  modelId?: string;
  label: string;
  bytes: number;
  count: number;
  /** True when `bytes` is an estimate (the history tables). */
  estimated?: boolean;
}

/** Every category with something in it; checkpoints first, one row per model. */
export async function storageByCategory(db: WorkbenchDb): Promise<StorageCategory[]> {
  const out: StorageCategory[] = [];
  const names = new Map((await db.models.toArray()).map((m) => [m.id, m.name]));
  const perModel = new Map<string, { bytes: number; count: number }>();
  await db.checkpoints.each((c) => {
    const m = perModel.get(c.modelId) ?? perModel.set(c.modelId, { bytes: 0, count: 0 }).get(c.modelId)!;
    m.bytes += c.bytes;
    m.count++;
  });
  for (const [modelId, m] of perModel) out.push({ category: 'checkpoints', modelId, label: `checkpoints of ${names.get(modelId) ?? modelId}`, ...m });
  let data = { bytes: 0, count: 0 };
  await db.files.each((f) => (data = { bytes: data.bytes + f.size, count: data.count + 1 }));
  if (data.count) out.push({ category: 'datasets', label: 'datasets', ...data });
  let imported = { bytes: 0, count: 0 };
  await db.modelFiles.each((f) => (imported = { bytes: imported.bytes + f.blob.size, count: imported.count + 1 }));
  if (imported.count) out.push({ category: 'imported models', label: 'imported model files', ...imported });
  let rows = 0;
  let bytes = 0;
  for (const t of [db.metrics, db.evals, db.samples, db.metricsArchive, db.evalsArchive, db.events] as const) {
    const n = await t.count();
    if (n === 0) continue;
    const one = await t.toCollection().first();
    rows += n;
    bytes += n * JSON.stringify(one).length;
  }
  if (rows) out.push({ category: 'metrics and history', label: 'metrics, samples and event log', bytes, count: rows, estimated: true });
  return out;
}
