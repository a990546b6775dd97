/**
 * `npm run bench:evals [-- --examples 400 --eval 100]`: the share of wall time the fixed eval sets and the evolution
 * snapshots take during a training run with the default settings (the tiny preset's: batch 4, a checkpoint every 100
 * steps and at the file's end; evalEverySteps 0, evalTimeShare 0.1; evolution snapshots of 3 prompts at steps 0, 10,
 * 25, 50, …), and the step time with and without them. Runs the daemon's loop in Node (wasm, fake-indexeddb) on the
 * bundled tiny model over `--examples` chat rows, after a short warm-up, once without (no eval set, evolutionPrompts 0)
 * and once with an eval set of `--eval` rows and the default snapshots; prints one JSON line: eval_share ((eval +
 * snapshot ms) / the run's wall ms), the trainer's own measured share, evals and snapshots run, ms per eval and per
 * snapshot, the median ms_per_step with and without (past the first step), wall ms of both runs.
 */
import 'fake-indexeddb/auto';
import { initNodeBackend } from '../src/engine/backend-node.ts';
import { nodeFolder } from '../src/engine/node-folder.ts';
import { WorkbenchDb } from '../src/store/db.ts';
import { TrainingLoop } from '../src/daemon/loop.ts';
import { Queue } from '../src/daemon/queue.ts';
import { validateItem } from '../src/daemon/validate-item.ts';
import { updateTrainConfig } from '../src/daemon/config.ts';
import { loadTokenizerFrom } from '../src/daemon/session.ts';
import { numberFlag, parseArgs } from '../src/cli/args.ts';

const args = parseArgs(process.argv.slice(2), ['examples', 'eval']);
const examples = numberFlag(args, 'examples', { integer: true, min: 8 }) ?? 400;
const evalRows = numberFlag(args, 'eval', { integer: true, min: 1 }) ?? 100;
const folder = nodeFolder('public/models/qwen3-tiny');

const rows = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => {
    const a = (i + seed) % 17, b = (i * 7 + seed) % 13;
    return JSON.stringify({ messages: [{ role: 'user', content: `add ${a} ${b}` }, { role: 'assistant', content: `${a + b}` }], metadata: { skill: 'add', difficulty: a + b > 15 ? 'hard' : 'easy' } });
  }).join('\n') + '\n';

/** The median (the first metric row, with the kernels' compile, is left out by the caller). */
const median = (v: number[]) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] : NaN);

async function run(withEval: boolean, trainRows = examples) {
  const db = new WorkbenchDb(`bench-evals-${withEval}-${Date.now()}`);
  const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'qwen3-tiny', ref: 'disk:' }, pollMs: 10 });
  await loop.recover();
  if (!withEval) await updateTrainConfig(db, { evolutionPrompts: 0 });
  if (withEval) await db.evalSets.add({ modelId: 'tiny', name: 'held.jsonl', blob: new Blob([rows(evalRows, 1000)]), addedAt: Date.now(), status: 'pending' });
  const queue = new Queue(db);
  const r = await queue.add('train.jsonl', new Blob([rows(trainRows, 0)]), 'normal', false);
  await validateItem(db, r.itemId!, { tokenizer: await loadTokenizerFrom(folder), template: 'stock' });
  const t0 = performance.now();
  await loop.runUntilIdle();
  const wall = performance.now() - t0;
  const metrics = await db.metrics.toArray();
  const results = await db.evalResults.toArray();
  const snapshots = await db.samples.filter((r) => r.kind === 'evolution').toArray();
  const snapshotSteps = new Set(snapshots.map((r) => r.step)).size;
  loop.dispose();
  await db.delete();
  const evalMs = results.reduce((n, x) => n + x.ms, 0), snapshotMs = snapshots.reduce((n, x) => n + x.ms, 0);
  return {
    wall, steps: metrics.length ? metrics[metrics.length - 1].step : 0, msPerStep: median(metrics.slice(1).map((m) => m.ms ?? 0)),
    evalMs, evals: results.length, snapshotMs, snapshots: snapshotSteps, share: results.at(-1)?.timeShare ?? 0,
  };
}

const backend = await initNodeBackend(['wasm', 'cpu']);
await run(false, 16); // warm-up: the first run in a process is slower (kernel set-up), whichever it is
const without = await run(false);
const withEvals = await run(true);
console.log(JSON.stringify({
  bench: 'eval-sets', backend: backend.name, model: 'qwen3-tiny', examples, eval_examples: evalRows, steps: withEvals.steps,
  eval_share: +((withEvals.evalMs + withEvals.snapshotMs) / withEvals.wall).toFixed(4), trainer_measured_share: +withEvals.share.toFixed(4), target_share: 0.1,
  evals: withEvals.evals, ms_per_eval: Math.round(withEvals.evalMs / Math.max(1, withEvals.evals)),
  snapshots: withEvals.snapshots, ms_per_snapshot: Math.round(withEvals.snapshotMs / Math.max(1, withEvals.snapshots)),
  ms_per_step_without: +without.msPerStep.toFixed(2), ms_per_step_with: +withEvals.msPerStep.toFixed(2),
  wall_ms_without: Math.round(without.wall), wall_ms_with: Math.round(withEvals.wall),
}));
