// The retention planner with an injected clock and an injected day function (UTC days, or a +10 h zone), so the
// answer does not depend on this machine's time zone: protection rules, budget edges, order of deletion.
import { describe, expect, it } from 'vitest';
import { addDays, planRetention, type RetentionCheckpoint, type RetentionPolicy } from '../../src/store/retention.ts';

const GB = 1024 ** 3; // sizes print in powers of 1024, as the page shows them
const H = 3_600_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const at = (iso: string) => Date.parse(iso);
const NOW = at('2026-11-30T21:00:00Z');
const POLICY: RetentionPolicy = { minAgeHours: 36, dailyDays: 7, budgetBytes: 22 * GB };

/** 30 checkpoints of 1 GB over 3 days: 10 a day (UTC 02:00, 04:00 … 20:00 on Nov 28, 29, 30), id 'd28h02' etc. */
function threeDays(): RetentionCheckpoint[] {
  const out: RetentionCheckpoint[] = [];
  let step = 0;
  for (const d of [28, 29, 30]) {
    for (let h = 2; h <= 20; h += 2) {
      step += 100;
      const hh = String(h).padStart(2, '0');
      out.push({ id: `d${d}h${hh}`, step, createdAt: at(`2026-11-${d}T${hh}:00:00Z`), bytes: GB, pinned: false, valLoss: 1 });
    }
  }
  return out;
}

function with_(rows: RetentionCheckpoint[], id: string, over: Partial<RetentionCheckpoint>): RetentionCheckpoint[] {
  return rows.map((r) => (r.id === id ? { ...r, ...over } : r));
}

/** The 3-day set with the best validation loss at Nov 28 06:00 and a pin at Nov 28 08:00. */
function scenario(): RetentionCheckpoint[] {
  return with_(with_(threeDays(), 'd28h06', { valLoss: 0.5 }), 'd28h08', { pinned: true });
}

const reasonsOf = (plan: ReturnType<typeof planRetention>, id: string) => plan.keep.find((k) => k.id === id)?.reasons;

describe('planRetention', () => {
  it('30 checkpoints over 3 days: keeps exactly what the rules say and deletes the rest oldest first, down to the budget', () => {
    const plan = planRetention({ checkpoints: scenario(), policy: POLICY, now: NOW, dayOf: utcDay, resumeFrom: 'd29h04' });
    // Younger than 36 h (after Nov 29 09:00): Nov 29 10:00–20:00 and all of Nov 30 (16). Older and protected: best
    // (28h06), pinned (28h08), Nov 28's last (28h20), the resume point (29h04). The 10 others are unprotected; 30 GB
    // over a 22 GB budget: the 8 oldest go, then the total is at the budget and the last two stay.
    expect(plan.delete.map((d) => d.id)).toEqual(['d28h02', 'd28h04', 'd28h10', 'd28h12', 'd28h14', 'd28h16', 'd28h18', 'd29h02']);
    expect(plan.delete.map((d) => d.step)).toEqual([100, 200, 500, 600, 700, 800, 900, 1100]);
    expect(plan.delete.every((d) => d.bytes === GB)).toBe(true);
    expect(plan.delete[0].why).toMatch(/took 30\.0 GB, over the 22\.0 GB budget.*oldest unprotected.*older than 36 hours/);
    expect(plan.delete[7].why).toMatch(/took 23\.0 GB/);
    expect(plan.keep).toHaveLength(22);
    expect(plan.keep.map((k) => k.id)[0]).toBe('d30h20'); // newest first
    expect(plan.totalBytes).toBe(30 * GB);
    expect(plan.keptBytes).toBe(22 * GB);

    expect(reasonsOf(plan, 'd30h20')).toEqual(['the latest checkpoint of the model', 'the last checkpoint of today (2026-11-30)', 'younger than 36 hours']);
    expect(reasonsOf(plan, 'd29h20')).toEqual(['the last checkpoint of yesterday (2026-11-29)', 'younger than 36 hours']);
    expect(reasonsOf(plan, 'd29h10')).toEqual(['younger than 36 hours']);
    expect(reasonsOf(plan, 'd28h20')).toEqual(['the last checkpoint of 2026-11-28 (one a day for the last 7 days)']);
    expect(reasonsOf(plan, 'd28h06')).toEqual(['the best validation loss of the model (0.5000)']);
    expect(reasonsOf(plan, 'd28h08')).toEqual(['pinned']);
    expect(reasonsOf(plan, 'd29h04')).toEqual(['training will resume from it']);
    for (const id of ['d29h06', 'd29h08']) {
      expect(plan.keep.find((k) => k.id === id)).toMatchObject({ protected: false, reasons: ['within the size budget (22.0 GB of 22.0 GB kept)'] });
    }
    expect(plan.keep.filter((k) => k.protected)).toHaveLength(20);
  });

  it('budget edges: at the budget nothing goes; one byte over, the oldest unprotected goes; 0 takes every unprotected one', () => {
    const rows = scenario();
    const plan = (budgetBytes: number) => planRetention({ checkpoints: rows, policy: { ...POLICY, budgetBytes }, now: NOW, dayOf: utcDay });
    expect(plan(30 * GB).delete).toEqual([]);
    expect(plan(30 * GB).keep).toHaveLength(30);
    expect(plan(30 * GB - 1).delete.map((d) => d.id)).toEqual(['d28h02']);
    expect(plan(Infinity).delete).toEqual([]);
    // No resume point here: 29h04 is unprotected too (11 in all); the 19 protected ones exceed a 0 budget and stay.
    const all = plan(0);
    expect(all.delete.map((d) => d.id)).toEqual(['d28h02', 'd28h04', 'd28h10', 'd28h12', 'd28h14', 'd28h16', 'd28h18', 'd29h02', 'd29h04', 'd29h06', 'd29h08']);
    expect(all.keep.every((k) => k.protected)).toBe(true);
    expect(all.keptBytes).toBe(19 * GB);
    // Sizes differ: deletion stops as soon as the total is within the budget.
    const big = with_(rows, 'd28h02', { bytes: 5 * GB }); // 34 GB in all
    expect(planRetention({ checkpoints: big, policy: { ...POLICY, budgetBytes: 29 * GB }, now: NOW, dayOf: utcDay }).delete.map((d) => d.id)).toEqual(['d28h02']);
  });

  it('nothing younger than the minimum age goes, whatever the budget; the minimum age is a policy number', () => {
    const young = planRetention({ checkpoints: scenario(), policy: { ...POLICY, minAgeHours: 72, budgetBytes: 0 }, now: NOW, dayOf: utcDay });
    expect(young.delete).toEqual([]);
    expect(reasonsOf(young, 'd28h02')).toEqual(['younger than 72 hours']);
    const none = planRetention({ checkpoints: scenario(), policy: { minAgeHours: 0, dailyDays: 0, budgetBytes: 0 }, now: NOW, dayOf: utcDay });
    // Without the age rule and the daily rule: the latest, today's and yesterday's last, best and pinned stay.
    expect(none.keep.map((k) => k.id).sort()).toEqual(['d28h06', 'd28h08', 'd29h20', 'd30h20']);
  });

  it('a pinned and a resume checkpoint stay with every rule named; other protections the caller knows are kept too', () => {
    const rows = with_(scenario(), 'd30h04', { pinned: true });
    const plan = planRetention({ checkpoints: rows, policy: { ...POLICY, budgetBytes: 0 }, now: NOW, dayOf: utcDay, resumeFrom: 'd28h02', protect: [{ id: 'd28h04', reason: 'being exported' }] });
    expect(reasonsOf(plan, 'd30h04')).toEqual(['pinned', 'younger than 36 hours']);
    expect(reasonsOf(plan, 'd28h02')).toEqual(['training will resume from it']);
    expect(reasonsOf(plan, 'd28h04')).toEqual(['being exported']);
    expect(plan.delete.map((d) => d.id)).not.toContain('d28h02');
    expect(plan.delete.map((d) => d.id)).not.toContain('d28h04');
    expect(plan.delete[0].id).toBe('d28h10');
  });

  it('a checkpoint a rollback abandoned stays until 36 hours after abandonedAt, then may go; the branch is not the latest line', () => {
    // A rollback 35 h ago to Nov 28 10:00 abandoned Nov 28 12:00–16:00 (all older than 36 h themselves).
    const inside = ['d28h12', 'd28h14', 'd28h16'].reduce((r, id) => with_(r, id, { abandonedAt: NOW - 35 * H }), scenario());
    const p1 = planRetention({ checkpoints: inside, policy: { ...POLICY, budgetBytes: 0 }, now: NOW, dayOf: utcDay });
    expect(reasonsOf(p1, 'd28h14')).toEqual(['left on an abandoned branch by a rollback less than 36 hours ago']);
    expect(p1.delete.map((d) => d.id)).toEqual(['d28h02', 'd28h04', 'd28h10', 'd28h18', 'd29h02', 'd29h04', 'd29h06', 'd29h08']);
    // 37 h after the rollback they are ordinary old checkpoints: oldest first, and the sentence says why.
    const past = ['d28h12', 'd28h14', 'd28h16'].reduce((r, id) => with_(r, id, { abandonedAt: NOW - 37 * H }), scenario());
    const p2 = planRetention({ checkpoints: past, policy: { ...POLICY, budgetBytes: 25 * GB }, now: NOW, dayOf: utcDay });
    expect(p2.delete.map((d) => d.id)).toEqual(['d28h02', 'd28h04', 'd28h10', 'd28h12', 'd28h14']);
    expect(p2.delete[3].why).toMatch(/abandoned branch more than 36 hours ago/);

    // The abandoned tip is neither the latest nor a day's last nor the best; the current line's are.
    const tip = with_(with_(scenario(), 'd30h20', { abandonedAt: NOW - H, valLoss: 0.1 }), 'd30h18', {});
    const p3 = planRetention({ checkpoints: tip, policy: POLICY, now: NOW, dayOf: utcDay });
    expect(reasonsOf(p3, 'd30h20')).toEqual(['younger than 36 hours', 'left on an abandoned branch by a rollback less than 36 hours ago']);
    expect(reasonsOf(p3, 'd30h18')).toEqual(['the latest checkpoint of the model', 'the last checkpoint of today (2026-11-30)', 'younger than 36 hours']);
    expect(reasonsOf(p3, 'd28h06')?.[0]).toMatch(/best validation loss/);
    // Every checkpoint abandoned (an odd state): the rules still pick a latest.
    const allGone = scenario().map((r) => ({ ...r, abandonedAt: NOW - 40 * H }));
    expect(reasonsOf(planRetention({ checkpoints: allGone, policy: POLICY, now: NOW, dayOf: utcDay }), 'd30h20')?.[0]).toBe('the latest checkpoint of the model');
  });

  it('best by validation loss: the lowest finite one, the newer on a tie; none without validation losses', () => {
    const rows = with_(with_(with_(threeDays(), 'd28h02', { valLoss: 0.3 }), 'd28h04', { valLoss: 0.3 }), 'd28h10', { valLoss: Number.NaN });
    const plan = planRetention({ checkpoints: rows, policy: { ...POLICY, budgetBytes: 0 }, now: NOW, dayOf: utcDay });
    expect(reasonsOf(plan, 'd28h04')).toEqual(['the best validation loss of the model (0.3000)']);
    expect(plan.delete.map((d) => d.id)).toContain('d28h02');
    expect(plan.delete.map((d) => d.id)).toContain('d28h10');
    const noVal = threeDays().map((r) => ({ ...r, valLoss: undefined }));
    const p2 = planRetention({ checkpoints: noVal, policy: { ...POLICY, budgetBytes: 0 }, now: NOW, dayOf: utcDay });
    expect(p2.keep.some((k) => k.reasons.some((r) => r.includes('best')))).toBe(false);
  });

  it('ties in createdAt: the higher step is the newer (latest, day\'s last) and the lower goes first', () => {
    const t = at('2026-11-20T10:00:00Z');
    const rows: RetentionCheckpoint[] = [
      { id: 'b', step: 20, createdAt: t, bytes: GB, pinned: false },
      { id: 'a', step: 10, createdAt: t, bytes: GB, pinned: false },
      { id: 'c', step: 30, createdAt: t - H, bytes: GB, pinned: false }, // an older write with a higher step (another branch)
      { id: 'x2', step: 5, createdAt: t - 2 * H, bytes: GB, pinned: false },
      { id: 'x1', step: 5, createdAt: t - 2 * H, bytes: GB, pinned: false },
    ];
    const now = at('2026-11-30T21:00:00Z');
    const plan = planRetention({ checkpoints: rows, policy: { minAgeHours: 36, dailyDays: 0, budgetBytes: 2 * GB }, now, dayOf: utcDay });
    expect(reasonsOf(plan, 'b')).toEqual(['the latest checkpoint of the model']);
    expect(plan.delete.map((d) => d.id)).toEqual(['x1', 'x2', 'c']); // same time and step: by id
    expect(plan.keep.map((k) => k.id)).toEqual(['b', 'a']);
  });

  it('one per day for the last N local days, today included; the day follows the injected zone, not this machine', () => {
    // 10 days, a checkpoint every 6 hours (00, 06, 12, 18 UTC) up to Nov 30 18:00; now Nov 30 21:00.
    const rows: RetentionCheckpoint[] = [];
    for (let i = 0; i < 40; i++) {
      const createdAt = at('2026-11-21T00:00:00Z') + i * 6 * H;
      rows.push({ id: `c${i}`, step: i + 1, createdAt, bytes: GB, pinned: false });
    }
    const policy = { minAgeHours: 0, dailyDays: 7, budgetBytes: 0 };
    const plan = planRetention({ checkpoints: rows, policy, now: NOW, dayOf: utcDay });
    // Kept: the 18:00 of Nov 24…30 (7 days); everything else goes.
    expect(plan.keep.map((k) => utcDay(rows.find((r) => r.id === k.id)!.createdAt) + ' ' + new Date(rows.find((r) => r.id === k.id)!.createdAt).getUTCHours())).toEqual(
      ['2026-11-30 18', '2026-11-29 18', '2026-11-28 18', '2026-11-27 18', '2026-11-26 18', '2026-11-25 18', '2026-11-24 18'],
    );
    expect(plan.delete).toHaveLength(33);
    expect(reasonsOf(plan, 'c15')).toEqual(['the last checkpoint of 2026-11-24 (one a day for the last 7 days)']);
    // In a zone 10 hours ahead, now is Dec 1 07:00 there and each day's last is the 12:00 UTC one (22:00 local).
    const plus10 = (ms: number) => utcDay(ms + 10 * H);
    const zoned = planRetention({ checkpoints: rows, policy, now: NOW, dayOf: plus10 });
    expect(reasonsOf(zoned, 'c39')).toEqual(['the latest checkpoint of the model', 'the last checkpoint of today (2026-12-01)']);
    expect(reasonsOf(zoned, 'c38')).toEqual(['the last checkpoint of yesterday (2026-11-30)']);
    expect(zoned.keep).toHaveLength(7);
    // dailyDays 0 still keeps today's and yesterday's last.
    expect(planRetention({ checkpoints: rows, policy: { ...policy, dailyDays: 0 }, now: NOW, dayOf: utcDay }).keep.map((k) => k.id)).toEqual(['c39', 'c35']);
  });

  it('calendar arithmetic on day keys crosses months and years', () => {
    expect(addDays('2026-12-01', -1)).toBe('2026-11-30');
    expect(addDays('2027-01-01', -7)).toBe('2026-12-25');
    expect(addDays('2028-03-01', -1)).toBe('2028-02-29');
  });
});
