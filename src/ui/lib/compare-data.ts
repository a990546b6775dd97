// What can be compared (issue 14) and each side's rows read from the store: runs (one file's stretch of training,
// with the config it ran with), models (their current line) and the branches a rollback set aside.
import type { CheckpointRow, RunRow, WorkbenchDb } from '../../store/db.ts';
import { branchOf, branchesOf } from '../../store/branches.ts';
import { flatConfig, type CompareSide } from './compare.ts';

export interface CompareChoice {
  key: string;
  kind: 'run' | 'model' | 'branch';
  label: string;
  modelId: string;
  /** A run's steps (from, to]: one queue item's training, over all its runs (a reload or a stop splits it in several). */
  from?: number;
  to?: number;
  /** The config a run trained with (its last part's). */
  config?: Record<string, unknown>;
  branch?: string;
}

/** Every run with at least one step, every model and every set-aside branch, newest runs first. */
export async function compareChoices(db: WorkbenchDb): Promise<CompareChoice[]> {
  const models = await db.models.toArray();
  const name = new Map(models.map((m) => [m.id, m.name]));
  const groups = new Map<string, RunRow[]>();
  for (const r of (await db.runs.toArray()).sort((a, b) => a.id! - b.id!)) {
    const k = `${r.modelId}:${r.itemId}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: CompareChoice[] = [];
  for (const [k, rs] of groups) {
    const last = rs.at(-1)!;
    // A run that ended without a record (the tab was closed or crashed) lasted until the next one of the item began.
    const to = Math.max(...rs.map((r, i) => r.endStep ?? (i + 1 < rs.length ? rs[i + 1].startStep : -Infinity)));
    const from = Math.min(...rs.map((r) => r.startStep));
    if (!(to > from)) continue;
    out.push({ key: `run:${k}`, kind: 'run', label: `${last.fileName} (steps ${from + 1}–${to})`, modelId: last.modelId, from, to, config: [...rs].reverse().find((r) => r.config)?.config });
  }
  out.sort((a, b) => b.to! - a.to!);
  for (const m of models) out.push({ key: `model:${m.id}`, kind: 'model', label: `model ${m.name}`, modelId: m.id });
  for (const m of models) {
    const ids = new Set((await db.metricsArchive.where('modelId').equals(m.id).toArray()).map((r) => r.branch));
    for (const b of branchesOf(m).filter((b) => ids.has(b.id))) out.push({ key: `branch:${m.id}:${b.id}`, kind: 'branch', label: `${name.get(m.id)} · ${b.name}`, modelId: m.id, branch: b.id });
  }
  return out;
}

const latestConfig = (rows: CheckpointRow[]) => {
  const c = rows.sort((a, b) => b.step - a.step)[0];
  return c ? flatConfig(c.trainConfig) : null;
};

/** One side's rows: metrics, validation losses and eval-set EM in its step range, and its config. */
export async function loadSide(db: WorkbenchDb, c: CompareChoice): Promise<CompareSide> {
  const byStep = <T extends { step: number }>(rows: T[]) => rows.sort((a, b) => a.step - b.step);
  const setNames = new Map((await db.evalSets.where('modelId').equals(c.modelId).toArray()).map((s) => [s.id!, s.name]));
  const evalRows = async (inRange: (step: number) => boolean) =>
    byStep((await db.evalResults.where('modelId').equals(c.modelId).toArray()).filter((r) => inRange(r.step))).map((r) => ({ name: setNames.get(r.evalSetId) ?? `set ${r.evalSetId}`, step: r.step, em: r.em }));
  const checkpoints = await db.checkpoints.where('modelId').equals(c.modelId).toArray();
  if (c.kind === 'branch') {
    const mine = <T extends { branch: string; step: number }>(rows: T[]): T[] => byStep(rows.filter((r) => r.branch === c.branch));
    return {
      label: c.label, origin: 0,
      metrics: mine(await db.metricsArchive.where('modelId').equals(c.modelId).toArray()),
      val: mine(await db.evalsArchive.where('modelId').equals(c.modelId).toArray()),
      evals: [],
      config: latestConfig(checkpoints.filter((k) => branchOf(k) === c.branch)),
    };
  }
  const from = c.from ?? 0, to = c.to ?? Infinity;
  const inRange = (step: number) => step > from && step <= to;
  return {
    label: c.label, origin: from,
    metrics: byStep((await db.metrics.where('modelId').equals(c.modelId).toArray()).filter((r) => inRange(r.step))),
    val: byStep((await db.evals.where('modelId').equals(c.modelId).toArray()).filter((r) => inRange(r.step))),
    evals: await evalRows(inRange),
    config: c.config ?? latestConfig(checkpoints.filter((k) => inRange(k.step) && !k.abandonedAt)),
  };
}
