// The trainer worker terminated 20 times over one queue, each time inside a phase chosen at random (a step, a
// checkpoint write after a random number of its tensors or around its manifest, a validation, a sample): every
// example is trained once, the final step is the uninterrupted run's, every step has one metric row, and the losses
// equal the reference's (harness.ts LOSS_TOLERANCE). The restart limit is raised so the suite measures loss.
import type { TrainerTestHook } from '../../src/workers/trainer.worker.ts';
import { CONFIG, LOSS_TOLERANCE, duplicateSamples, SEED, compareWithReference, expectSameAsReference, expect, inPage, openWorkbench, record, STORM_QUEUE, referenceRun, rng, shuffle, startQueue, test, testTrainer, verifyCheckpoints, waitQueueDone, type StoreFacts } from './harness.ts';
import type { FaultPhase } from '../../src/daemon/file-run.ts';

const KILLS = Number(process.env.FAULT_KILLS ?? 20);

test('20 kills at random points inside steps, checkpoint writes, validations and samples lose nothing', async ({ page, freshProfile }) => {
  test.setTimeout(14 * 60_000);
  const ref = await referenceRun(freshProfile, STORM_QUEUE, CONFIG, 8 * 60_000);
  const perStep = Number(CONFIG.batchSize) * Number(CONFIG.gradAccumSteps);
  const random = rng(SEED);
  const phases: FaultPhase[] = ['step', 'checkpoint-write', 'validation', 'sample'];
  const schedule = shuffle(Array.from({ length: KILLS }, (_, i) => phases[i % 4]), random);

  await openWorkbench(page);
  await inPage(page, async (t) => t.supervisor.setMaxRestarts(1000), undefined);
  await startQueue(page, STORM_QUEUE);

  const kills: { phase: FaultPhase; step: number; where?: string }[] = [];
  let done: StoreFacts | null = null;
  // The queue may end before an armed phase comes again: then the storm is short, and the test says so below.
  const finished = waitQueueDone(page, 12 * 60_000).then((f) => (done = f));
  const restarts = () => inPage(page, async (t) => t.db.events.where('kind').equals('restart').count(), undefined);
  for (const phase of schedule) {
    // Tensors in a checkpoint (weights and both AdamW moments), from a manifest once there is one.
    const n = await inPage(page, async (t) => (await t.db.checkpoints.toCollection().first())?.tensors.length ?? 60, undefined);
    const pick = random();
    const tensors = phase !== 'checkpoint-write' ? undefined : pick < 0.15 ? 'all' : pick < 0.3 ? 'committed' : Math.floor(random() * n);
    const hook: TrainerTestHook = { kind: 'stop-at', phase, skip: random() < 0.3 ? 1 : 0, tensors, then: 'crash' };
    const before = await restarts();
    const at = await Promise.race([testTrainer(page, hook), finished.then(() => null)]);
    if (!at) break;
    kills.push({ phase, step: at.step, where: at.committed ? 'after manifest' : at.last ? 'before manifest' : at.tensors !== undefined ? `${at.tensors} tensors` : undefined });
    await expect.poll(restarts, { timeout: 60_000 }).toBeGreaterThan(before);
  }
  const facts: StoreFacts = done ?? (await finished);
  const cmp = compareWithReference(ref, facts, perStep);
  const verified = await verifyCheckpoints(page);
  const loadFailures = facts.events.filter((e) => (e.kind === 'failure' || e.kind === 'fault') && /checkpoint|chunk/i.test(e.message));
  record({
    scenario: 'kill-storm',
    faults: { kill: kills.length },
    examplesLost: cmp.examplesLost,
    stepsCountedTwice: cmp.stepsCountedTwice,
    halfCheckpointsVisible: 0,
    corruptReads: verified.failures.length + loadFailures.length,
    notes: {
      seed: SEED, kills, referenceSteps: ref.steps.length, finalStep: facts.modelStep, maxLossDiff: cmp.maxLossDiff, lossTolerance: LOSS_TOLERANCE,
      missingSteps: cmp.missingSteps, extraSteps: cmp.extraSteps, mismatches: cmp.mismatches.slice(0, 5), checkpointsVerified: verified.checked,
      verifyFailures: verified.failures, loadFailures, duplicateSamples: duplicateSamples(facts),
      events: facts.events.filter((e) => e.kind !== 'restart').slice(0, 10),
    },
  });
  expect(kills.length, `kills that landed (seed ${SEED}): ${JSON.stringify(kills)}`).toBe(KILLS);
  expectSameAsReference(ref, facts, cmp);
  expect(verified.failures).toEqual([]);
  expect(loadFailures).toEqual([]);
  expect(duplicateSamples(facts), 'steps with a sample answer stored twice').toEqual([]);
});
