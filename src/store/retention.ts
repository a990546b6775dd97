/**
 * The retention planner: given a model's complete checkpoints, the policy and the time, which checkpoints automatic
 * retention deletes (unprotected ones, oldest first, only while the model's checkpoints exceed the size budget) and
 * every rule that keeps each of the others. Pure: the clock and the local day are inputs, so a dry run and the
 * real clean-up give the same answer and tests need no time zone.
 */
import type { CheckpointRow } from './db.ts';

export interface RetentionPolicy {
  /** Never delete a checkpoint younger than this, nor one a rollback abandoned less than this ago. */
  minAgeHours: number;
  /** Keep the last checkpoint of each of the last N local days, today included (today's and yesterday's always). */
  dailyDays: number;
  /** Unprotected checkpoints go, oldest first, only while the model's checkpoints take more than this. */
  budgetBytes: number;
}

/** The local calendar day of a time, as 'YYYY-MM-DD'. */
export type DayOf = (ms: number) => string;

/** What the planner reads of a checkpoint. */
export type RetentionCheckpoint = Pick<CheckpointRow, 'id' | 'step' | 'createdAt' | 'bytes' | 'pinned' | 'valLoss' | 'abandonedAt'>;

export interface RetentionInput {
  /** All complete checkpoints of one model. */
  checkpoints: readonly RetentionCheckpoint[];
  policy: RetentionPolicy;
  now: number;
  /** Default: this machine's local day. */
  dayOf?: DayOf;
  /** The checkpoint the person chose to resume from (ModelRow.resumeFrom). */
  resumeFrom?: string;
  /** Other checkpoints the caller knows must stay, each with its reason (one sentence). */
  protect?: readonly { id: string; reason: string }[];
  /** Named versions of the model (store/versions.ts): their checkpoints are never deleted automatically. */
  versions?: readonly { checkpointId: string; name: string; title: string }[];
}

export interface RetentionDeletion {
  id: string;
  step: number;
  bytes: number;
  /** The rule that let it go, one sentence. */
  why: string;
}

export interface RetentionKeep {
  id: string;
  step: number;
  bytes: number;
  /** True when a protection rule keeps it; false when it stays only because the budget is not exceeded. */
  protected: boolean;
  /** Every rule that keeps it, one sentence each. */
  reasons: string[];
}

export interface RetentionPlan {
  /** In the order they go: oldest first. */
  delete: RetentionDeletion[];
  /** Newest first. */
  keep: RetentionKeep[];
  budgetBytes: number;
  /** The model's checkpoints before and after the plan. */
  totalBytes: number;
  keptBytes: number;
}

const HOUR_MS = 3_600_000;

/** This machine's local calendar day. */
export function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The calendar day `n` days after `day` ('YYYY-MM-DD'; calendar arithmetic, no clock or time zone). */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** '6.5 GB', '12.3 MB', '512 B': powers of 1024, one decimal below 100, as the page shows sizes (ui/lib/format.ts). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unlimited';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

const hours = (h: number) => `${h} hour${h === 1 ? '' : 's'}`;

/** Newer first: by creation time, then step, then id (so equal times still give one order). */
function newerFirst(a: RetentionCheckpoint, b: RetentionCheckpoint): number {
  return b.createdAt - a.createdAt || b.step - a.step || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Every protection rule that applies to each checkpoint (an empty list: none does). Latest, best and the day's
 * last are chosen on the current line, the checkpoints no rollback abandoned (those have their own rule), unless
 * every checkpoint was abandoned.
 */
export function protections(input: Omit<RetentionInput, 'policy'> & { policy: Pick<RetentionPolicy, 'minAgeHours' | 'dailyDays'> }): Map<string, string[]> {
  const { policy, now } = input;
  const dayOf = input.dayOf ?? localDay;
  const minAgeMs = policy.minAgeHours * HOUR_MS;
  const sorted = [...input.checkpoints].sort(newerFirst);
  const out = new Map<string, string[]>(sorted.map((c) => [c.id, []]));
  const add = (id: string | undefined, reason: string) => id !== undefined && out.get(id)?.push(reason);
  const current = sorted.some((c) => c.abandonedAt === undefined) ? sorted.filter((c) => c.abandonedAt === undefined) : sorted;

  add(current[0]?.id, 'the latest checkpoint of the model');
  const withVal = current.filter((c) => c.valLoss !== undefined && Number.isFinite(c.valLoss));
  const best = withVal.reduce<RetentionCheckpoint | undefined>((a, c) => (a === undefined || c.valLoss! < a.valLoss! ? c : a), undefined); // ties: the newer
  if (best) add(best.id, `the best validation loss of the model (${best.valLoss!.toPrecision(4)})`);

  const today = dayOf(now);
  const days = Math.max(2, policy.dailyDays);
  const lastOfDay = new Map<string, string>();
  for (const c of current) if (!lastOfDay.has(dayOf(c.createdAt))) lastOfDay.set(dayOf(c.createdAt), c.id); // newest first
  for (let k = 0; k < days; k++) {
    const day = addDays(today, -k);
    const what = k === 0 ? `today (${day})` : k === 1 ? `yesterday (${day})` : `${day} (one a day for the last ${policy.dailyDays} days)`;
    add(lastOfDay.get(day), `the last checkpoint of ${what}`);
  }

  for (const c of sorted) {
    if (c.pinned) add(c.id, 'pinned');
    if (c.id === input.resumeFrom) add(c.id, 'training will resume from it');
    if (now - c.createdAt < minAgeMs) add(c.id, `younger than ${hours(policy.minAgeHours)}`);
    if (c.abandonedAt !== undefined && now - c.abandonedAt < minAgeMs) add(c.id, `left on an abandoned branch by a rollback less than ${hours(policy.minAgeHours)} ago`);
  }
  for (const v of input.versions ?? []) add(v.checkpointId, `a named version (${v.name} — "${v.title}")`);
  for (const p of input.protect ?? []) add(p.id, p.reason);
  return out;
}

/**
 * The plan: unprotected checkpoints are deleted oldest first (creation time, then step) while the model's
 * checkpoints take more than the budget; every other checkpoint is kept with every rule that keeps it.
 */
export function planRetention(input: RetentionInput): RetentionPlan {
  const { policy } = input;
  const reasons = protections(input);
  const sorted = [...input.checkpoints].sort(newerFirst);
  const totalBytes = sorted.reduce((a, c) => a + c.bytes, 0);
  let left = totalBytes;
  const gone = new Set<string>();
  const deletions: RetentionDeletion[] = [];
  for (const c of [...sorted].reverse()) {
    if (left <= policy.budgetBytes) break;
    if (reasons.get(c.id)!.length > 0) continue;
    const abandoned = c.abandonedAt !== undefined ? `, left on an abandoned branch more than ${hours(policy.minAgeHours)} ago` : '';
    deletions.push({
      id: c.id,
      step: c.step,
      bytes: c.bytes,
      why: `the model's checkpoints took ${formatSize(left)}, over the ${formatSize(policy.budgetBytes)} budget, and this was the oldest unprotected one (older than ${hours(policy.minAgeHours)}${abandoned}; not the latest, the best, pinned, a named version, the resume point or a day's last)`,
    });
    gone.add(c.id);
    left -= c.bytes;
  }
  const keep = sorted
    .filter((c) => !gone.has(c.id))
    .map((c): RetentionKeep => {
      const r = reasons.get(c.id)!;
      return r.length > 0
        ? { id: c.id, step: c.step, bytes: c.bytes, protected: true, reasons: r }
        : { id: c.id, step: c.step, bytes: c.bytes, protected: false, reasons: [`within the size budget (${formatSize(left)} of ${formatSize(policy.budgetBytes)} kept)`] };
    });
  return { delete: deletions, keep, budgetBytes: policy.budgetBytes, totalBytes, keptBytes: left };
}
