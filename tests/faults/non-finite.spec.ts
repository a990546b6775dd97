// Forced non-finite losses (a test hook makes the next steps' loss NaN on the device): fewer than
// maxConsecutiveNonFinite in a row are skipped (weights untouched) and counted on the file; that many in a row fail
// the file as non_finite (once, no retry), the event log says so, and the daemon goes on: the next file trains in full.
import { CONFIG, duplicateSamples, expect, item, openWorkbench, queueOf, readFacts, record, startQueue, test, testTrainer, verifyCheckpoints, waitQueueDone } from './harness.ts';

const LIMIT = 3;

test('non-finite steps: skipped and counted, maxConsecutiveNonFinite in a row fails the file non_finite, the next file trains', async ({ page }) => {
  test.setTimeout(10 * 60_000);
  const [first, second] = queueOf(2, 24);
  await openWorkbench(page);
  await startQueue(page, [first, second], { ...CONFIG, maxConsecutiveNonFinite: String(LIMIT), evalSteps: '0', sampleEvery: '1000000' });
  const stepOf = async (name: string) => (await readFacts(page)).steps.filter((s) => s.item === name).length;
  await expect.poll(() => stepOf(first.name), { timeout: 180_000 }).toBeGreaterThanOrEqual(2);

  // Two in a row (under the limit): skipped, counted, and training goes on past a checkpoint that records them.
  await testTrainer(page, { kind: 'non-finite', steps: LIMIT - 1 });
  const skippedNow = async () => (await readFacts(page)).steps.filter((s) => s.item === first.name && s.skipped).length;
  await expect.poll(skippedNow, { timeout: 120_000 }).toBe(LIMIT - 1);
  await expect(item(page, first.name).getByTestId('item-skipped-steps')).toContainText(`${LIMIT - 1} non-finite steps skipped`, { timeout: 120_000 });
  const afterSkips = await readFacts(page);
  // Then the limit in a row: the file fails as non_finite.
  await testTrainer(page, { kind: 'non-finite', steps: LIMIT });
  await expect(item(page, first.name)).toHaveAttribute('data-status', 'failed', { timeout: 120_000 });
  await expect(item(page, first.name).getByTestId('item-failure-kind')).toHaveText('non-finite');
  const facts = await waitQueueDone(page, 6 * 60_000);
  await page.getByTestId('btn-event-log').click();
  const eventShown = await page.locator('[data-testid="event-item"][data-error-kind="non_finite"]').count();
  const verified = await verifyCheckpoints(page);
  const [a, b] = facts.items;
  const secondSteps = facts.steps.filter((s) => s.item === second.name);
  record({
    scenario: 'non-finite',
    faults: { 'non-finite': 2 },
    // The second file is the one that must not lose anything: it trains in full after the first one failed.
    examplesLost: b.status === 'completed' ? Math.max(0, b.fileSteps * Number(CONFIG.batchSize) - b.examplesSeen) : b.fileSteps * Number(CONFIG.batchSize),
    stepsCountedTwice: Math.max(0, secondSteps.length - b.fileSteps) + Math.max(0, b.examplesSeen - b.fileSteps * Number(CONFIG.batchSize)),
    halfCheckpointsVisible: 0,
    corruptReads: verified.failures.length,
    notes: { first: a, second: b, skippedBeforeFailure: afterSkips.items[0], eventShown, events: facts.events, skippedRows: facts.steps.filter((s) => s.skipped).map((s) => s.step) },
  });
  expect(afterSkips.items[0].status).toBe('processing');
  expect(a).toMatchObject({ status: 'failed', failureKind: 'non_finite', attempts: 1 });
  expect(eventShown).toBeGreaterThan(0);
  expect(b.status).toBe('completed');
  expect(b.examplesSeen).toBe(b.fileSteps * Number(CONFIG.batchSize));
  expect(secondSteps.map((s) => s.fileStep)).toEqual(Array.from({ length: b.fileSteps }, (_, i) => i + 1));
  expect(secondSteps.every((s) => !s.skipped && s.loss !== null && Number.isFinite(s.loss))).toBe(true);
  expect(facts.daemon.status).toBe('idle');
  expect(verified.failures).toEqual([]);
  expect(duplicateSamples(facts)).toEqual([]);
});
