// What can be compared (issue 14) and each side's rows read from the store: runs (one file's stretch of training,
// with the config it ran with), models (their current line) and the branches a rollback set aside.
import type { CheckpointRow, WorkbenchDb } from '../../store/db.ts';
import { branchOf, branchesOf } from '../../store/branches.ts';
import { flatConfig, type CompareSide } from './compare.ts';

export interface CompareChoice {
  key: string;
  kind: 'run' | 'model' | 'branch';
  label: string;
  modelId: string;
  runId?: number;
  branch?: string;
}

/** Every run with at least one step, every model and every set-aside branch, newest runs first. */
export async function compareChoices(db: WorkbenchDb): Promise<CompareChoice[]> {
  const models = await db.models.toArray();
  const name = new Map(models.map((m) => [m.id, m.name]));
  const runs = (await db.runs.toArray()).filter((r) => (r.endStep ?? r.startStep) > r.startStep).sort((a, b) => b.id! - a.id!);
  const out: CompareChoice[] = runs.map((r) => ({ key: `run:${r.id}`, kind: 'run', label: `run ${r.id}: ${r.fileName} (steps ${r.startStep + 1}–${r.endStep})`, modelId: r.modelId, runId: r.id }));
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
  const run = c.runId !== undefined ? await db.runs.get(c.runId) : undefined;
  const from = run?.startStep ?? 0, to = run ? (run.endStep ?? Infinity) : Infinity;
  const inRange = (step: number) => step > from && step <= to;
  return {
    label: c.label, origin: from,
    metrics: byStep((await db.metrics.where('modelId').equals(c.modelId).toArray()).filter((r) => inRange(r.step))),
    val: byStep((await db.evals.where('modelId').equals(c.modelId).toArray()).filter((r) => inRange(r.step))),
    evals: await evalRows(inRange),
    config: run?.config ?? latestConfig(checkpoints.filter((k) => inRange(k.step) && !k.abandonedAt)),
  };
}
