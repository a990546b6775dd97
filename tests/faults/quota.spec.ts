// Storage quota exhausted mid-run: Chromium's DevTools protocol (Storage.overrideQuotaForOrigin) gives the origin a
// real quota with room for two checkpoints and half of a third, so the third checkpoint's second chunk does not fit. Training pauses with the
// message, the file is not charged (no attempt burned), the event log says why, no half or damaged checkpoint is
// ever visible; once the quota is raised again (space freed) Resume finishes the queue exactly as the uninterrupted
// run did.
import { CONFIG, LOSS_TOLERANCE, STORM_QUEUE, compareWithReference, expectSameAsReference, referencePrefix, duplicateSamples, expect, listedCheckpoints, openWorkbench, readFacts, record, referenceRun, startQueue, test, verifyCheckpoints, waitQueueDone, watchCheckpoints } from './harness.ts';

test('storage full mid-run: training pauses with the message, nothing corrupt, Resume after space is freed loses nothing', async ({ page, context, freshProfile, baseURL }) => {
  test.setTimeout(12 * 60_000);
  // The storms' first file alone: its run is the start of the storms' reference run.
  const queue = STORM_QUEUE.slice(0, 1);
  const ref = referencePrefix(await referenceRun(freshProfile, STORM_QUEUE, CONFIG, 8 * 60_000), queue.map((f) => f.name));
  const perStep = Number(CONFIG.batchSize) * Number(CONFIG.gradAccumSteps);
  // A real quota, set before the page opens its database so Chromium's IndexedDB enforces it from the first write
  // (set on an open database it may not be, as Chromium caches the space left): room for two checkpoints and the
  // third's first chunk (64 MB) with 16 MB to spare, so the third checkpoint's second chunk does not fit. Usage as
  // the quota is enforced (navigator.storage.estimate() does not show an override); chunks of weights barely compress.
  const cdp = await context.newCDPSession(page);
  const origin = new URL(baseURL!).origin;
  const ckpt = ref.checkpoints[0].bytes;
  const { usage } = await cdp.send('Storage.getUsageAndQuota', { origin });
  const quota = usage + 2 * ckpt + 64 * 1024 * 1024 + 16 * 1024 * 1024;
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: quota });
  await openWorkbench(page);
  const watch = await watchCheckpoints(context);
  await startQueue(page, queue);

  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused', { timeout: 180_000 });
  await expect(page.getByTestId('daemon-reason')).toContainText('Storage is full');
  const paused = await readFacts(page);
  await page.getByTestId('btn-event-log').click();
  const eventShown = await page.locator('[data-testid="event-item"][data-error-kind="quota"]').count();
  await watch.check(await listedCheckpoints(page));
  const duringPause = await verifyCheckpoints(page);

  await cdp.send('Storage.overrideQuotaForOrigin', { origin }); // the default quota again: space freed
  await page.getByTestId('btn-resume').click();
  const facts = await waitQueueDone(page, 8 * 60_000);
  const seen = await watch.stop();
  const cmp = compareWithReference(ref, facts, perStep);
  const verified = await verifyCheckpoints(page);
  const pausedItem = paused.items.find((i) => i.status === 'paused');
  record({
    scenario: 'quota',
    faults: { quota: 1 },
    examplesLost: cmp.examplesLost,
    stepsCountedTwice: cmp.stepsCountedTwice,
    halfCheckpointsVisible: seen.half.length,
    corruptReads: duringPause.failures.length + verified.failures.length,
    notes: {
      usage, quota, pausedAt: paused.daemon.step, reason: paused.daemon.reason, pausedItem, eventShown, events: paused.events.filter((e) => e.kind !== 'restart'),
      watch: seen, maxLossDiff: cmp.maxLossDiff, lossTolerance: LOSS_TOLERANCE, missingSteps: cmp.missingSteps, extraSteps: cmp.extraSteps,
      mismatches: cmp.mismatches.slice(0, 5), verifyFailures: [...duringPause.failures, ...verified.failures],
    },
  });
  expect(paused.daemon.reason).toMatch(/Storage is full: the checkpoint at step \d+ could not be saved/);
  expect(pausedItem, 'the file waits, paused').toBeDefined();
  expect(pausedItem!.attempts, 'no retry burned').toBe(0);
  expect(eventShown, 'the quota pause is in the event log').toBeGreaterThan(0);
  expect(seen.half).toEqual([]);
  expect(duringPause.failures).toEqual([]);
  expect(verified.failures).toEqual([]);
  expectSameAsReference(ref, facts, cmp);
  expect(duplicateSamples(facts)).toEqual([]);
});
