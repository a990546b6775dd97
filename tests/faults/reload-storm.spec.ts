// The tab reloaded 10 times while the trainer is inside a checkpoint write (after a random number of its tensors,
// between its last chunk and its manifest, or between the manifest and the file's progress): a second tab watches
// the store the whole time and the page's own list is checked after every reload, and no manifest is ever seen
// without all of its chunks; training resumes by itself after each reload (a reload is never a fault); the queue
// ends as the uninterrupted run did. Then one chunk is damaged on purpose: the reader names it.
import { CONFIG, LOSS_TOLERANCE, SEED, compareWithReference, expectSameAsReference, duplicateSamples, expect, inPage, listedCheckpoints, openWorkbench, readFacts, record, referenceRun, STORM_QUEUE, rng, startQueue, test, testTrainer, verifyCheckpoints, waitQueueDone, watchCheckpoints, type StoreFacts } from './harness.ts';

const RELOADS = Number(process.env.FAULT_RELOADS ?? 10);

test('10 reloads inside checkpoint writes: no half checkpoint is ever listed or loaded, nothing lost', async ({ page, context, freshProfile }) => {
  test.setTimeout(14 * 60_000);
  const ref = await referenceRun(freshProfile, STORM_QUEUE, CONFIG, 8 * 60_000);
  const perStep = Number(CONFIG.batchSize) * Number(CONFIG.gradAccumSteps);
  const random = rng(SEED + 1);

  await openWorkbench(page);
  await startQueue(page, STORM_QUEUE);
  const watch = await watchCheckpoints(context);
  let done: StoreFacts | null = null;
  const finished = waitQueueDone(page, 12 * 60_000).then((f) => (done = f));

  const reloads: { step: number; where: string }[] = [];
  const statusesAfterReload = new Set<string>();
  for (let i = 0; i < RELOADS; i++) {
    const n = await inPage(page, async (t) => (await t.db.checkpoints.toCollection().first())?.tensors.length ?? 60, undefined);
    const pick = random();
    const tensors = pick < 0.2 ? 'all' : pick < 0.35 ? 'committed' : Math.floor(random() * n);
    const at = await Promise.race([testTrainer(page, { kind: 'stop-at', phase: 'checkpoint-write', tensors, skip: Math.floor(random() * 2), then: 'hold' }), finished.then(() => null)]);
    if (!at) break;
    reloads.push({ step: at.step, where: at.committed ? 'after manifest' : at.last ? 'before manifest' : `${at.tensors} tensors` });
    await page.reload();
    // What the page lists, once it has listed the store's checkpoints again: every one complete.
    await expect(page.getByTestId('checkpoint-item').first()).toBeVisible({ timeout: 60_000 });
    await watch.check(await listedCheckpoints(page));
    // A reload is never a fault: training goes on by itself (never paused or crashed on the way).
    await expect
      .poll(async () => {
        const s = (await readFacts(page)).daemon.status;
        statusesAfterReload.add(s);
        return s === 'training' || s === 'idle' || s === 'preparing' ? s === 'training' || done !== null : s;
      }, { timeout: 120_000, intervals: [500] })
      .toBe(true);
  }
  const facts: StoreFacts = done ?? (await finished);
  await watch.check(await listedCheckpoints(page));
  const seen = await watch.stop();
  const cmp = compareWithReference(ref, facts, perStep);
  const verified = await verifyCheckpoints(page);
  const loadFailures = facts.events.filter((e) => (e.kind === 'failure' || e.kind === 'fault') && /checkpoint|chunk/i.test(e.message));

  // A damaged chunk (one bit of the oldest checkpoint's first chunk flipped, as bit rot would) is named by the reader.
  const damaged = await inPage(page, async (t) => {
    const oldest = (await t.checkpoints.list()).at(-1)!;
    const row = (await t.db.checkpointChunks.get([oldest.id, 0]))!;
    const bytes = new Uint8Array(row.data.slice(0));
    bytes[1234] ^= 0x10;
    await t.db.checkpointChunks.put({ ...row, data: bytes.buffer });
    return oldest.id;
  }, undefined);
  const afterDamage = await verifyCheckpoints(page);

  record({
    scenario: 'reload-storm',
    faults: { reload: reloads.length, 'damaged-chunk': 1 },
    examplesLost: cmp.examplesLost,
    stepsCountedTwice: cmp.stepsCountedTwice,
    halfCheckpointsVisible: seen.half.length,
    corruptReads: verified.failures.length + loadFailures.length,
    notes: {
      seed: SEED + 1, reloads, statusesAfterReload: [...statusesAfterReload], watch: seen, maxLossDiff: cmp.maxLossDiff, lossTolerance: LOSS_TOLERANCE,
      missingSteps: cmp.missingSteps, extraSteps: cmp.extraSteps, mismatches: cmp.mismatches.slice(0, 5), checkpointsVerified: verified.checked,
      verifyFailures: verified.failures, loadFailures, duplicateSamples: duplicateSamples(facts),
      damagedChunk: { damaged, detected: afterDamage.failures },
    },
  });
  expect(reloads.length, `reloads that landed inside a checkpoint write (seed ${SEED + 1})`).toBe(RELOADS);
  expect(seen.half).toEqual([]);
  expect(seen.polls).toBeGreaterThan(RELOADS);
  expect([...statusesAfterReload].filter((s) => s === 'paused' || s === 'crashed' || s === 'stopped')).toEqual([]);
  expectSameAsReference(ref, facts, cmp);
  expect(verified.failures).toEqual([]);
  expect(loadFailures).toEqual([]);
  expect(duplicateSamples(facts)).toEqual([]);
  expect(afterDamage.failures.map((f) => f.id)).toEqual([damaged]);
  expect(afterDamage.failures[0].message).toMatch(/CheckpointDamagedError: .*chunk 0 of \d+ is damaged: its CRC-32/);
});
