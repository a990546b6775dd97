// A lost GPU device (?backend=webgpu; a test hook destroys the worker's GPUDevice mid-file; SwiftShader here, so the
// tiny model, batch 1, short rows, few steps): the daemon pauses with the device-lost reason and charges nothing to
// the file, the event log shows it, a fresh trainer (fresh backend) comes up without counting a crash, and Resume
// finishes the file with every step once and the redone steps' losses equal to those before the loss.
import { LOSS_TOLERANCE, duplicateSamples, expect, inPage, openWorkbench, readFacts, record, startQueue, test, testTrainer, verifyCheckpoints, waitQueueDone } from './harness.ts';
import { chatJsonl } from '../e2e/helpers.ts';

const EXAMPLES = 4; // 4 steps of one example: a checkpoint at step 2, the device lost after step 3
const GPU_CONFIG = { batchSize: '1', gradAccumSteps: '1', maxLength: '24', logEvery: '1', saveSteps: '2', evalSteps: '0', sampleEvery: '1000000', valFraction: '0', learningRate: '0.003', warmupSteps: '0', seed: '7' };

test('a lost GPU device pauses with the reason, a fresh trainer comes up, Resume finishes the file with nothing lost', async ({ page }) => {
  test.setTimeout(12 * 60_000);
  await openWorkbench(page, 'backend=webgpu');
  await startQueue(page, [{ name: 'gpu.jsonl', text: chatJsonl(EXAMPLES, 3) }], GPU_CONFIG);
  await expect(page.getByTestId('backend-badge')).toContainText(/webgpu/i, { timeout: 180_000 });
  // Past the checkpoint at step 2, inside the file.
  const before = await waitQueueDone(page, 6 * 60_000, (f) => f.steps.length >= 3 && f.checkpoints.length >= 1);
  const restartsBefore = before.events.filter((e) => e.kind === 'restart').length;
  await testTrainer(page, { kind: 'lose-device' });

  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused', { timeout: 120_000 });
  await expect(page.getByTestId('daemon-reason')).toContainText(/GPU device was lost/);
  const paused = await readFacts(page);
  await page.getByTestId('btn-event-log').click();
  await expect(page.locator('[data-testid="event-item"][data-error-kind="device_lost"]').first()).toBeVisible();
  // The fresh trainer: replaced (an event), not counted as a crash by the supervisor.
  await expect.poll(async () => (await readFacts(page)).events.filter((e) => e.kind === 'restart').length, { timeout: 60_000 }).toBeGreaterThan(restartsBefore);
  const crashCount = await inPage(page, async (t) => t.supervisor.restartCount, undefined);

  await page.getByTestId('btn-resume').click();
  const facts = await waitQueueDone(page, 6 * 60_000);
  const verified = await verifyCheckpoints(page);
  const item = facts.items[0];
  const stepsOnce = facts.steps.map((s) => s.step).join(',') === Array.from({ length: item.fileSteps }, (_, i) => i + 1).join(',');
  // Steps logged before the loss and trained again after it (from the checkpoint): the same losses.
  const redone = before.steps.map((b) => ({ step: b.step, before: b.loss, after: facts.steps.find((s) => s.step === b.step)?.loss ?? null }));
  const diff = Math.max(0, ...redone.map((r) => (r.before === null || r.after === null ? Infinity : Math.abs(r.before - r.after))));
  record({
    scenario: 'device-loss',
    faults: { 'device-loss': 1 },
    examplesLost: Math.max(0, EXAMPLES - item.examplesSeen),
    stepsCountedTwice: Math.max(0, facts.modelStep - item.fileSteps) + Math.max(0, item.examplesSeen - EXAMPLES),
    halfCheckpointsVisible: 0,
    corruptReads: verified.failures.length,
    notes: { paused: paused.daemon, pausedItem: paused.items[0], crashCount, redone, maxLossDiff: diff, steps: facts.steps.length, item, events: facts.events },
  });
  expect(paused.items[0].status).toBe('paused');
  expect(paused.items[0].attempts, 'nothing charged to the file').toBe(0);
  expect(paused.daemon.errorKind).toBe('device_lost');
  expect(crashCount, 'a replaced backend is not a crash').toBe(0);
  expect(item.status).toBe('completed');
  expect(item.examplesSeen).toBe(EXAMPLES);
  expect(stepsOnce, `one metric row per step 1..${item.fileSteps}: ${facts.steps.map((s) => s.step)}`).toBe(true);
  expect(facts.modelStep).toBe(item.fileSteps);
  expect(diff).toBeLessThanOrEqual(LOSS_TOLERANCE * 12);
  expect(verified.failures).toEqual([]);
  expect(duplicateSamples(facts)).toEqual([]);
});
