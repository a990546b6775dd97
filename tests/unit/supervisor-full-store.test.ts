// The supervisor's own records (the daemon state, the event log) are written before it restarts a trainer; when
// the store refuses them (the quota is exhausted), it still restarts the trainer, and still stops at the restart
// limit. Found by the fault suite: a trainer that died on a full store was never restarted (the supervisor threw
// while recording the restart, and its watchdog does nothing without a trainer), leaving "training" on screen.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { Supervisor } from '../../src/daemon/supervisor.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';

const freshDb = scratchDbs('sup-full');

/** Puts into the daemon state and the event log fail with QuotaExceededError while `full.on`. */
function fullStore(db: WorkbenchDb, full: { on: boolean }): void {
  db.use({
    stack: 'dbcore',
    name: 'full-store',
    create: (down) => ({
      ...down,
      table: (name) => {
        const t = down.table(name);
        if (name !== 'daemon' && name !== 'events') return t;
        return { ...t, mutate: (req) => (full.on && req.type !== 'delete' ? Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError')) : t.mutate(req)) };
      },
    }),
  });
}

describe('Supervisor on a full store', () => {
  it('restarts the trainer even when recording the restart fails, and stops at the limit', async () => {
    const db = freshDb();
    const full = { on: false };
    fullStore(db, full);
    let spawned = 0;
    const logged: string[] = [];
    const sup = new Supervisor({ db, checkEveryMs: 60_000, maxRestarts: 2, log: (m) => logged.push(m), spawn: () => (spawned++, { start: async () => undefined, terminate: () => undefined }) });
    await sup.start();
    full.on = true;
    await sup.onFailure('AbortError: QuotaExceededError');
    expect(spawned).toBe(2);
    await sup.onFailure('AbortError: QuotaExceededError');
    expect(spawned).toBe(3);
    await sup.onFailure('AbortError: QuotaExceededError');
    expect([spawned, sup.crashed]).toEqual([3, true]);
    expect(logged.some((m) => /could not record it in the store: .*QuotaExceededError/.test(m))).toBe(true);
    sup.stop();
  });
});
