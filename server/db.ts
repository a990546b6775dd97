/**
 * The node's SQLite database (better-sqlite3): one file in the data folder holding the model
 * registry, datasets, jobs and settings, so all of them survive restarts.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';

export type Db = Database.Database;

export function openDb(dataDir: string): Db {
  const db = new Database(join(dataDir, 'node.sqlite'));
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS models (
      id TEXT PRIMARY KEY, path TEXT NOT NULL, source TEXT NOT NULL,
      created_at TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', is_active INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS datasets (
      id TEXT PRIMARY KEY, path TEXT NOT NULL, examples INTEGER NOT NULL, bytes INTEGER NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, model_id TEXT NOT NULL,
      params TEXT NOT NULL, result TEXT, error TEXT, progress REAL NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT);
    CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created_at);
    CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  return db;
}

export function nowIso(): string {
  return new Date().toISOString();
}
