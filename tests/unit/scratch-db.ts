// Scratch databases for store and daemon tests (fake-indexeddb): fresh ones per test, deleted after each test.
import 'fake-indexeddb/auto';
import { afterEach } from 'vitest';
import { WorkbenchDb } from '../../src/store/db.ts';

/** A factory of fresh databases named `${prefix}-…`; every one it made is deleted after each test. */
export function scratchDbs(prefix: string): () => WorkbenchDb {
  let n = 0;
  const made: WorkbenchDb[] = [];
  afterEach(async () => {
    for (const db of made.splice(0)) await db.delete();
  });
  return () => {
    const db = new WorkbenchDb(`${prefix}-${n++}-${Date.now()}`);
    made.push(db);
    return db;
  };
}
