/**
 * A model's branches: its history is a tree ('main', and a new branch at every rollback); the live metrics and
 * evals tables hold the current line, and a rollback moves what it leaves behind into the archive tables (keyed by
 * branch) instead of deleting it, marks the checkpoints it leaves behind abandoned, and logs what moved where.
 */
import {
  MAIN_BRANCH,
  type ArchivedEvalRow,
  type ArchivedMetricRow,
  type BranchRecord,
  type CheckpointRow,
  type ModelRow,
  type WorkbenchDb,
} from './db.ts';

/** One branch on a line of history and the steps it owns there: (after, upTo]. */
export interface Segment {
  branch: string;
  after: number;
  upTo: number;
}

export const branchOf = (row: { branch?: string }): string => row.branch ?? MAIN_BRANCH;

/** The model's branch records, 'main' included (a model never rolled back has only the implied one). */
export function branchesOf(model: Pick<ModelRow, 'branches' | 'createdAt'>): BranchRecord[] {
  const list = model.branches ?? [];
  return list.some((b) => b.id === MAIN_BRANCH) ? list : [{ id: MAIN_BRANCH, name: MAIN_BRANCH, fromStep: -1, createdAt: model.createdAt }, ...list];
}

/** The line of history that ends on branch `id`: its branches from the root with the steps each owns; the last ends at `upTo`. */
export function lineOf(branches: readonly BranchRecord[], id: string, upTo = Infinity): Segment[] {
  const byId = new Map(branches.map((b) => [b.id, b]));
  const chain: BranchRecord[] = [];
  for (let cur: string | undefined = id; cur !== undefined; ) {
    const b = byId.get(cur);
    if (!b) throw new Error(`branch "${cur}" is not recorded (known: ${[...byId.keys()].join(', ')})`);
    if (chain.includes(b)) throw new Error(`branch "${cur}" is its own ancestor`);
    chain.unshift(b);
    cur = b.parent;
  }
  return chain.map((b, i) => ({ branch: b.id, after: i === 0 ? -Infinity : b.fromStep, upTo: i + 1 < chain.length ? chain[i + 1].fromStep : upTo }));
}

/** The branch that owns `step` on a line (undefined past its end). */
export function ownerAt(line: readonly Segment[], step: number): string | undefined {
  return line.find((s) => step > s.after && step <= s.upTo)?.branch;
}

/** The last step two lines share: after it they differ. */
export function forkStep(a: readonly Segment[], b: readonly Segment[]): number {
  let f = -Infinity;
  for (let i = 0; i < Math.min(a.length, b.length) && a[i].branch === b[i].branch; i++) {
    f = Math.min(a[i].upTo, b[i].upTo);
    if (a[i].upTo !== b[i].upTo) break;
  }
  return f;
}

/** Whether a checkpoint is part of a line (its branch owns its step there). */
export const onLine = (line: readonly Segment[], c: Pick<CheckpointRow, 'step' | 'branch'>): boolean => ownerAt(line, c.step) === branchOf(c);

/** Whether a row (an eval result, a snapshot) belongs to the model's current line of history, not a set-aside branch. */
export function onCurrentLine(model: Pick<ModelRow, 'branches' | 'createdAt' | 'branch'>): (row: { step: number; branch?: string }) => boolean {
  const line = lineOf(branchesOf(model), branchOf(model));
  return (row) => ownerAt(line, row.step) === branchOf(row);
}

/** What a rollback to a checkpoint changes, computed before anything is changed. */
export interface RollbackPlan {
  /** False when the checkpoint is the latest of the current line: training continues from it and nothing moves. */
  rollback: boolean;
  modelId: string;
  checkpointId: string;
  /** Training continues from this step. */
  step: number;
  /** The history after this step leaves the current line (the step itself, unless the checkpoint is on a set-aside branch). */
  forkStep: number;
  /** The branch the new run will be. */
  newBranch: BranchRecord;
  /** Checkpoints that leave the current line, ascending steps. */
  leaving: { id: string; step: number; branch: string }[];
  /** Per branch, the live rows that move into the archive (steps after forkStep). */
  setAside: { branch: string; name: string; metrics: number; evals: number; firstStep: number | null; lastStep: number | null }[];
  /** Per branch, the archived rows that come back onto the line (Use on a checkpoint of a set-aside branch). */
  restored: { branch: string; name: string; metrics: number; evals: number }[];
  /** One paragraph for the confirmation: what changes. */
  message: string;
}

const steps = (xs: number[]) => (xs.length <= 8 ? xs.join(', ') : `${xs.slice(0, 3).join(', ')}, … ${xs.slice(-3).join(', ')}`);
const quoted = (names: string[]) => names.map((n) => `'${n}'`).join(names.length === 2 ? ' and ' : ', ');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** Retention's default minimum age, which also keeps what a rollback leaves behind (retentionMinAgeHours). */
const DEFAULT_KEEP_HOURS = 36;
const kept = (hours: number) => (hours > 0 ? `kept (not deleted automatically for ${plural(hours, 'hour')})` : 'kept');

export class BranchRepo {
  constructor(private readonly db: WorkbenchDb) {}

  /**
   * What resuming from `checkpointId` would change (nothing is changed). `keepHours`: how long retention keeps what a
   * rollback leaves behind (the config's retentionMinAgeHours), named in the message.
   */
  async plan(checkpointId: string, keepHours = DEFAULT_KEEP_HOURS): Promise<RollbackPlan> {
    const c = await this.db.checkpoints.get(checkpointId);
    if (!c) throw new Error(`checkpoint ${checkpointId} does not exist`);
    const model = await this.db.models.get(c.modelId);
    if (!model) throw new Error(`model "${c.modelId}" of checkpoint ${checkpointId} does not exist`);
    return this.planFor(model, c, keepHours);
  }

  private async planFor(model: ModelRow, c: CheckpointRow, keepHours: number): Promise<RollbackPlan> {
    const branches = branchesOf(model);
    const name = (id: string) => branches.find((b) => b.id === id)?.name ?? id;
    const cur = lineOf(branches, branchOf(model));
    const from = branchOf(c);
    const next = lineOf(branches, from, c.step);
    const f = forkStep(cur, next);
    const all = await this.db.checkpoints.where('modelId').equals(model.id).toArray();
    const tip = all.filter((x) => x.abandonedAt === undefined && onLine(cur, x)).sort((a, b) => b.createdAt - a.createdAt || b.step - a.step)[0];
    let n = branches.length + 1;
    while (branches.some((b) => b.id === `b${n}`)) n++;
    const newBranch: BranchRecord = { id: `b${n}`, name: `branch ${n}`, parent: from, fromStep: c.step, fromCheckpointId: c.id, createdAt: Date.now() };
    const base = { modelId: model.id, checkpointId: c.id, step: c.step, forkStep: f, newBranch };
    const latest = tip?.id === c.id;
    if (latest) {
      return { ...base, rollback: false, leaving: [], setAside: [], restored: [], message: `Training continues from the latest checkpoint (step ${c.step}) of ${model.name}.` };
    }
    const leaving = all.filter((x) => onLine(cur, x) && !onLine(next, x)).sort((a, b) => a.step - b.step).map((x) => ({ id: x.id, step: x.step, branch: branchOf(x) }));
    const live = await this.db.metrics.where('[modelId+step]').between([model.id, f], [model.id, Infinity], false, true).toArray();
    const liveEvals = await this.db.evals.where('[modelId+step]').between([model.id, f], [model.id, Infinity], false, true).toArray();
    const setAside = new Map<string, RollbackPlan['setAside'][number]>();
    const aside = (b: string) => setAside.get(b) ?? setAside.set(b, { branch: b, name: name(b), metrics: 0, evals: 0, firstStep: null, lastStep: null }).get(b)!;
    for (const r of live) {
      const s = aside(ownerAt(cur, r.step)!);
      s.metrics++;
      s.firstStep ??= r.step;
      s.lastStep = r.step;
    }
    for (const r of liveEvals) aside(ownerAt(cur, r.step)!).evals++;
    for (const x of leaving) aside(x.branch);
    const restored: RollbackPlan['restored'] = [];
    for (const seg of this.comingBack(next, f)) {
      const range = (t: typeof this.db.metricsArchive | typeof this.db.evalsArchive) => t.where('[modelId+branch+step]').between([model.id, seg.branch, seg.after], [model.id, seg.branch, seg.upTo], false, true).count();
      restored.push({ branch: seg.branch, name: name(seg.branch), metrics: await range(this.db.metricsArchive), evals: await range(this.db.evalsArchive) });
    }
    const lines = [`Training continues from step ${c.step} of ${model.name}${!onLine(cur, c) ? ` (on the set-aside branch '${name(from)}')` : ''}.`];
    const asideList = [...setAside.values()];
    if (asideList.length) {
      const what = [leaving.length ? `The ${plural(leaving.length, 'newer checkpoint')} (step${leaving.length === 1 ? '' : 's'} ${steps(leaving.map((x) => x.step))})` : '', live.length || liveEvals.length ? `the loss history after step ${f}` : ''].filter(Boolean);
      const sentence = what.length === 2 ? `${what[0]} and ${what[1]}` : what[0].charAt(0).toUpperCase() + what[0].slice(1);
      lines.push(`${sentence} become${what.length === 1 && leaving.length === 1 ? 's' : ''} the side branch ${quoted(asideList.map((s) => s.name))}: ${kept(keepHours)} and shown beside the new run, branch '${newBranch.name}'.`);
    } else {
      lines.push(`Nothing of the current line is set aside; the new run is branch '${newBranch.name}'.`);
    }
    if (restored.length) lines.push(`The history of ${quoted(restored.map((r) => r.name))} up to step ${c.step} comes back onto the line.`);
    return { ...base, rollback: true, leaving, setAside: asideList, restored, message: lines.join(' ') };
  }

  /** The segments of the new line after the fork: their rows come back from the archive. */
  private comingBack(next: readonly Segment[], f: number): Segment[] {
    return next.filter((s) => s.upTo > f).map((s) => ({ ...s, after: Math.max(s.after, f) }));
  }

  /**
   * Makes the rollback to checkpoint `checkpointId` take effect (when training starts from it), in one transaction:
   * the current line's rows after the fork move into the archive under the branch that owns them, rows of the new
   * line come back from the archive, the checkpoints that leave the line are marked abandoned (now), the model
   * continues on a new branch from the checkpoint's step (lineage entry, resumeFrom cleared), and an event says what
   * moved where. When the checkpoint is the latest of the current line only resumeFrom is cleared. Returns the plan.
   */
  async rollBack(checkpointId: string, opts: { now?: number; keepHours?: number } = {}): Promise<RollbackPlan> {
    const now = opts.now ?? Date.now();
    const keepHours = opts.keepHours ?? DEFAULT_KEEP_HOURS;
    const db = this.db;
    return db.transaction('rw', [db.models, db.checkpoints, db.metrics, db.evals, db.metricsArchive, db.evalsArchive, db.events], async () => {
      const c = await db.checkpoints.get(checkpointId);
      if (!c) throw new Error(`checkpoint ${checkpointId} does not exist`);
      const model = await db.models.get(c.modelId);
      if (!model) throw new Error(`model "${c.modelId}" of checkpoint ${checkpointId} does not exist`);
      const plan = await this.planFor(model, c, keepHours);
      if (!plan.rollback) {
        await db.models.update(model.id, { resumeFrom: undefined });
        return plan;
      }
      const branches = branchesOf(model);
      const cur = lineOf(branches, branchOf(model));
      const next = lineOf(branches, branchOf(c), c.step);
      const f = plan.forkStep;
      const id = model.id;
      // Set aside: the current line's rows after the fork, under the branch that owns each.
      const live = await db.metrics.where('[modelId+step]').between([id, f], [id, Infinity], false, true).toArray();
      await db.metricsArchive.bulkPut(live.map((r): ArchivedMetricRow => ({ ...r, branch: ownerAt(cur, r.step)! })));
      await db.metrics.where('[modelId+step]').between([id, f], [id, Infinity], false, true).delete();
      const liveEvals = await db.evals.where('[modelId+step]').between([id, f], [id, Infinity], false, true).toArray();
      await db.evalsArchive.bulkPut(liveEvals.map((r): ArchivedEvalRow => ({ ...r, branch: ownerAt(cur, r.step)! })));
      await db.evals.where('[modelId+step]').between([id, f], [id, Infinity], false, true).delete();
      // Bring back: the new line's rows after the fork (a checkpoint on a set-aside branch).
      for (const seg of this.comingBack(next, f)) {
        const lo = [id, seg.branch, seg.after], hi = [id, seg.branch, seg.upTo];
        const m = await db.metricsArchive.where('[modelId+branch+step]').between(lo, hi, false, true).toArray();
        await db.metrics.bulkPut(m.map(({ branch: _b, ...r }) => r));
        await db.metricsArchive.where('[modelId+branch+step]').between(lo, hi, false, true).delete();
        const e = await db.evalsArchive.where('[modelId+branch+step]').between(lo, hi, false, true).toArray();
        await db.evals.bulkPut(e.map(({ branch: _b, ...r }) => r));
        await db.evalsArchive.where('[modelId+branch+step]').between(lo, hi, false, true).delete();
      }
      // Checkpoints: those leaving the line are abandoned now (retention keeps them keepHours at least); those coming back are not.
      for (const x of await db.checkpoints.where('modelId').equals(id).toArray()) {
        if (onLine(next, x) && x.abandonedAt !== undefined) await db.checkpoints.update(x.id, { abandonedAt: undefined, branch: branchOf(x) });
        else if (!onLine(next, x) && onLine(cur, x)) await db.checkpoints.update(x.id, { abandonedAt: now, branch: branchOf(x) });
      }
      const asideIds = new Set(plan.setAside.map((s) => s.branch));
      const records = [...branches.map((b) => (asideIds.has(b.id) ? { ...b, abandonedAt: now } : b)), { ...plan.newBranch, createdAt: now }];
      await db.models.update(id, {
        branch: plan.newBranch.id,
        branches: records,
        resumeFrom: undefined,
        step: c.step,
        lineage: [...model.lineage, { itemId: 0, fileName: '', fromStep: c.step, toStep: c.step, outcome: 'completed', rollback: { checkpointId: c.id, branch: plan.newBranch.id, setAside: [...asideIds] } }],
      });
      const moved = plan.setAside.map((s) => `${plural(s.metrics, 'loss row')}${s.evals ? ` and ${plural(s.evals, 'validation row')}` : ''}${s.firstStep !== null ? ` (steps ${s.firstStep}–${s.lastStep})` : ''} of '${s.name}'`);
      await db.events.add({
        at: now,
        kind: 'rollback',
        message: `Training went back to step ${c.step} of ${model.name} as branch '${plan.newBranch.name}'. Set aside, ${kept(keepHours)}: ${[plan.leaving.length ? `${plural(plan.leaving.length, 'checkpoint')} (step${plan.leaving.length === 1 ? '' : 's'} ${steps(plan.leaving.map((x) => x.step))})` : '', ...moved].filter(Boolean).join('; ') || 'nothing'}${plan.restored.length ? `; brought back: ${plan.restored.map((r) => `${plural(r.metrics, 'loss row')} of '${r.name}'`).join(', ')}` : ''}.`,
        modelId: id,
        checkpointId: c.id,
        detail: {
          step: c.step,
          forkStep: f,
          branch: plan.newBranch.id,
          setAside: plan.setAside.map((s) => ({ ...s, into: 'metricsArchive/evalsArchive' })),
          restored: plan.restored,
          abandonedCheckpoints: plan.leaving,
        },
      });
      return plan;
    });
  }
}
