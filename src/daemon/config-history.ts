/**
 * Config history per model (issue 14): every saved change of the training config as a row (configHistory) with the
 * fields that changed, from what to what, when and by whom — the person, or a model's preset (whose defaults are
 * recorded once, as the first row of a model's history, the first time its config is changed).
 */
import type { ConfigChangeRow, WorkbenchDb } from '../store/db.ts';

type Flat = Record<string, unknown>;

/** The fields whose values differ between two flat configs (dotted keys), in `after`'s key order. */
export function configChanges(before: Flat, after: Flat): ConfigChangeRow['changes'] {
  const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])];
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map((field) => ({ field, from: before[field], to: after[field] }));
}

/**
 * Records a saved config change of `modelId`; a model without history first gets its preset's row (the preset's
 * defaults against the generic ones). Nothing is written for a save that changed nothing.
 */
export async function recordConfigChange(
  db: WorkbenchDb,
  modelId: string,
  change: { by: string; before: Flat; after: Flat },
  preset?: { name: string; generic: Flat; defaults: Flat },
): Promise<void> {
  const changes = configChanges(change.before, change.after);
  if (changes.length === 0) return;
  await db.transaction('rw', db.configHistory, async () => {
    const now = Date.now();
    if (preset && (await db.configHistory.where('modelId').equals(modelId).count()) === 0) {
      const own = configChanges(preset.generic, preset.defaults);
      if (own.length) await db.configHistory.add({ modelId, time: now - 1, by: `preset:${preset.name}`, changes: own });
    }
    await db.configHistory.add({ modelId, time: now, by: change.by, changes });
  });
}

/** A model's config history, oldest first. */
export async function configHistory(db: WorkbenchDb, modelId: string): Promise<ConfigChangeRow[]> {
  return (await db.configHistory.where('modelId').equals(modelId).toArray()).sort((a, b) => a.time - b.time || a.id! - b.id!);
}
