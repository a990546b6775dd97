// A GPU device lost while a step is in flight: the step fails with its own error (WebGPU aborts the pending
// mapAsync: "Buffer was unmapped before mapping was resolved") at about the time the device's `lost` promise
// resolves. That failure is the device loss, not the file's: the file waits, paused, with no attempt charged and no
// "failed and will be retried" in the event log. Found by the fault suite on webgpu (SwiftShader).
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

const freshDb = scratchDbs('device-lost-race');
let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
});

type LoopOpts = ConstructorParameters<typeof TrainingLoop>[0];

/** A loop on a fresh store with one 12-example file queued; `hooks` see the loop. */
async function setup(hooks: (loop: () => TrainingLoop) => Partial<LoopOpts>) {
  const db = freshDb();
  const loop: TrainingLoop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10, ...hooks(() => loop) });
  await loop.recover();
  expect((await updateTrainConfig(db, { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0 })).errors).toEqual([]);
  const queue = new Queue(db);
  const { itemId } = await queue.add('f.jsonl', new Blob([chatJsonl(12)]), 'normal', false);
  expect(await validateItem(db, itemId!, { tokenizer: await loadTokenizerFrom(folder), template: 'stock' })).toBe('queued');
  return { db, loop, queue, id: itemId! };
}

const MAP_ABORTED = "Failed to execute 'mapAsync' on 'GPUBuffer': Buffer was unmapped before mapping was resolved.";

async function expectPausedUncharged({ db, loop, queue, id }: Awaited<ReturnType<typeof setup>>) {
  expect(await queue.get(id)).toMatchObject({ status: 'paused', attempts: 0 });
  expect((await db.daemon.get('state'))!).toMatchObject({ status: 'paused', errorKind: 'device_lost' });
  expect((await loop.events.latest()).map((e) => [e.kind, e.errorKind])).toEqual([['fault', 'device_lost']]);
  loop.dispose();
}

describe('a device lost under a step in flight', () => {
  it('pauses the file without charging it when the loss is reported first and the step fails with its own error', async () => {
    let lost: Promise<void> | null = null;
    const t = await setup((loop) => ({
      onStep: (m) => {
        if (m.step !== 3 || lost) return;
        lost = loop().deviceLost('destroyed: Device was destroyed.'); // the lost promise's handler starts...
        throw new Error(MAP_ABORTED); // ...and the step fails
      },
    }));
    await t.loop.run(); // returns once halted
    await lost;
    await expectPausedUncharged(t);
  });

  it('pauses the file without charging it when the step fails first and the loss settles a moment later', async () => {
    let lost: Promise<void> | null = null;
    let failed = false;
    const t = await setup((loop) => ({
      onStep: (m) => {
        if (m.step !== 3 || failed) return;
        failed = true;
        throw new Error(MAP_ABORTED);
      },
      // The worker waits for GPUDevice.lost; here it settles on the next task.
      deviceSettled: () => new Promise<void>((r) => setTimeout(() => ((lost = loop().deviceLost('destroyed: Device was destroyed.')), r()), 0)),
    }));
    await t.loop.run();
    await lost;
    await expectPausedUncharged(t);
  });
});
