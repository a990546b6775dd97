/**
 * Named versions of a model: saving one names a checkpoint (v001, v002, … per model) with a title, notes and tags;
 * retention never deletes a named version's checkpoint (retention.ts), and a hand deletion is refused while it is named.
 */
import type { VersionRow, WorkbenchDb } from './db.ts';

export interface VersionFields {
  title: string;
  notes?: string;
  tags?: string[];
}

/** 'v003'. */
export const versionName = (v: Pick<VersionRow, 'number'>): string => `v${String(v.number).padStart(3, '0')}`;

/** Tags from what a person types: split on commas, trimmed, empty and repeated ones dropped. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(',').map((t) => t.trim()).filter(Boolean))];
}

export class VersionRepo {
  constructor(private readonly db: WorkbenchDb) {}

  /** Names checkpoint `checkpointId` as its model's next version. Throws when the checkpoint does not exist or the title is empty. */
  async create(checkpointId: string, fields: VersionFields, now = Date.now()): Promise<VersionRow> {
    const title = fields.title.trim();
    if (!title) throw new Error('a version needs a title ("after arith curriculum")');
    const db = this.db;
    return db.transaction('rw', [db.checkpoints, db.versions], async () => {
      const c = await db.checkpoints.get(checkpointId);
      if (!c) throw new Error(`checkpoint ${checkpointId} does not exist`);
      const last = await db.versions.where('[modelId+number]').between([c.modelId, -Infinity], [c.modelId, Infinity]).last();
      const number = (last?.number ?? 0) + 1;
      const row: VersionRow = { id: `${c.modelId}#v${number}`, modelId: c.modelId, checkpointId, number, step: c.step, title, notes: fields.notes?.trim() ?? '', tags: fields.tags ?? [], createdAt: now };
      await db.versions.add(row);
      return row;
    });
  }

  /** A model's versions, oldest (v001) first. */
  async list(modelId: string): Promise<VersionRow[]> {
    return this.db.versions.where('[modelId+number]').between([modelId, -Infinity], [modelId, Infinity]).toArray();
  }

  /** The versions that name a checkpoint. */
  async of(checkpointId: string): Promise<VersionRow[]> {
    return this.db.versions.where('checkpointId').equals(checkpointId).toArray();
  }
}
