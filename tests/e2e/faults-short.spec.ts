// The fault suite's short form (the full one, against an uninterrupted reference run, is `npm run test:faults`,
// tests/faults): one file trained with the trainer killed inside a checkpoint write, the tab reloaded inside one and
// the trainer killed inside a step. Every step has one metric row, the file's examples are all seen once, the steps
// logged before each fault and trained again after it have the same losses, no half checkpoint is ever listed, every
// checkpoint reads back with its chunks' CRC-32s, and a damaged chunk is named by the reader.
import { CONFIG, LOSS_TOLERANCE, expect, inPage, listedCheckpoints, openWorkbench, queueOf, readFacts, startQueue, test, testTrainer, verifyCheckpoints, waitQueueDone, watchCheckpoints, type StoreFacts } from '../faults/harness.ts';

test('a kill inside a checkpoint write, a reload inside one and a kill inside a step lose nothing; a damaged chunk is named', async ({ page, context }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await inPage(page, async (t) => t.supervisor.setMaxRestarts(100), undefined);
  await startQueue(page, queueOf(1, 16).map((f) => ({ ...f, name: 'short.jsonl' })));
  const watch = await watchCheckpoints(context);

  const before: StoreFacts[] = [];
  const at1 = await testTrainer(page, { kind: 'stop-at', phase: 'checkpoint-write', tensors: 20, then: 'crash' });
  before.push(await readFacts(page));
  const at2 = await testTrainer(page, { kind: 'stop-at', phase: 'checkpoint-write', tensors: 'all', skip: 1, then: 'hold' });
  before.push(await readFacts(page));
  await page.reload();
  await expect(page.getByTestId('checkpoint-item').first()).toBeVisible({ timeout: 60_000 });
  await watch.check(await listedCheckpoints(page));
  const at3 = await testTrainer(page, { kind: 'stop-at', phase: 'step', then: 'crash' });
  before.push(await readFacts(page));

  const facts = await waitQueueDone(page, 150_000);
  const seen = await watch.stop();
  const verified = await verifyCheckpoints(page);
  const [item] = facts.items;
  expect([at1?.step, at2?.last, at3?.phase]).toEqual([3, true, 'step']);
  expect(seen.half).toEqual([]);
  expect(item).toMatchObject({ status: 'completed', examplesSeen: item.fileSteps * Number(CONFIG.batchSize) });
  expect(facts.steps.map((s) => s.step)).toEqual(Array.from({ length: item.fileSteps }, (_, i) => i + 1));
  expect(facts.modelStep).toBe(item.fileSteps);
  const loss = new Map(facts.steps.map((s) => [s.step, s.loss ?? NaN]));
  for (const b of before) for (const s of b.steps) expect(Math.abs((loss.get(s.step) ?? NaN) - (s.loss ?? NaN)), `step ${s.step} trained again`).toBeLessThanOrEqual(LOSS_TOLERANCE * 12);
  expect(verified.failures).toEqual([]);
  expect(verified.checked).toBeGreaterThan(0);

  // One bit of a chunk flipped, as bit rot would: the reader names the checkpoint and the chunk.
  const damaged = await inPage(page, async (t) => {
    const c = (await t.checkpoints.list()).at(-1)!;
    const row = (await t.db.checkpointChunks.get([c.id, 1]))!;
    const bytes = new Uint8Array(row.data.slice(0));
    bytes[77] ^= 0x01;
    await t.db.checkpointChunks.put({ ...row, data: bytes.buffer });
    return c.id;
  }, undefined);
  const after = await verifyCheckpoints(page);
  expect(after.failures.map((f) => f.id)).toEqual([damaged]);
  expect(after.failures[0].message).toMatch(/chunk 1 of 2 is damaged: its CRC-32/);
});
