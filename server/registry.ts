/**
 * Model and dataset registry of the node: rows in SQLite; a model's `source` is a Hugging Face
 * folder on this machine (a registered path or an uploaded, unzipped folder under data/models).
 */
import type { Db } from './db.ts';
import { nowIso } from './db.ts';
import type { DatasetRecord, ModelRecord } from '../src/remote/api.ts';
import { HttpError } from './http.ts';

interface ModelRow {
  id: string;
  path: string;
  source: string;
  created_at: string;
  tags: string;
  is_active: number;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export function checkId(id: string, field = 'id'): string {
  if (!ID_RE.test(id)) {
    throw new HttpError(400, `Field "${field}" must be 1-128 characters of letters, digits, ".", "_", ":", "@" or "-", got ${JSON.stringify(id)}.`, 'invalid_request_error', field);
  }
  return id;
}

function toRecord(r: ModelRow): ModelRecord {
  return { id: r.id, path: r.path, source: r.source, created_at: r.created_at, tags: JSON.parse(r.tags) as string[], is_active: r.is_active === 1 };
}

export class Registry {
  constructor(private readonly db: Db) {}

  listModels(): ModelRecord[] {
    return (this.db.prepare('SELECT * FROM models ORDER BY created_at, id').all() as ModelRow[]).map(toRecord);
  }

  getModel(id: string): ModelRecord | null {
    const row = this.db.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined;
    return row ? toRecord(row) : null;
  }

  requireModel(id: string): ModelRecord {
    const m = this.getModel(id);
    if (!m) throw new HttpError(404, `No model with id "${id}" is registered.`, 'not_found_error', 'model_id');
    return m;
  }

  /** Inserts or replaces (keeping the active flag) the model `id`. */
  putModel(id: string, path: string, source: string, tags: string[]): ModelRecord {
    const prev = this.getModel(id);
    this.db
      .prepare('INSERT OR REPLACE INTO models (id, path, source, created_at, tags, is_active) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, path, source, nowIso(), JSON.stringify(tags), prev?.is_active ? 1 : 0);
    return this.requireModel(id);
  }

  activeModel(): ModelRecord | null {
    const row = this.db.prepare('SELECT * FROM models WHERE is_active = 1').get() as ModelRow | undefined;
    return row ? toRecord(row) : null;
  }

  setActive(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE models SET is_active = 0').run();
      this.db.prepare('UPDATE models SET is_active = 1 WHERE id = ?').run(id);
    })();
  }

  putDataset(id: string, path: string, examples: number, bytes: number): DatasetRecord {
    this.db.prepare('INSERT OR REPLACE INTO datasets (id, path, examples, bytes, created_at) VALUES (?, ?, ?, ?, ?)').run(id, path, examples, bytes, nowIso());
    return this.requireDataset(id);
  }

  requireDataset(id: string): DatasetRecord {
    const row = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as DatasetRecord | undefined;
    if (!row) throw new HttpError(404, `No dataset with id "${id}" was uploaded.`, 'not_found_error', 'dataset_ref');
    return row;
  }

  listDatasets(): DatasetRecord[] {
    return this.db.prepare('SELECT * FROM datasets ORDER BY created_at').all() as DatasetRecord[];
  }

  getSetting(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(key, value);
  }
}
