import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { FIXTURE_VOCAB, chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(7);
});
const freshDb = scratchDbs('daemon-emoji');

describe('emoji_think in the daemon', () => {
  it('trains a file with the thinking and stop contract, samples with its processors, previews the contract tokens as trained', async () => {
    const db = freshDb();
    const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 64 * 1024, pollMs: 10 });
    await loop.recover();
    const cfg = { profile: 'emoji_think', batchSize: 2, maxLength: 256, saveSteps: 0, evalSteps: 0, warmupSteps: 0, valFraction: 0.2, valMax: 2, sampleEvery: 2, learningRate: 1e-2, bucketByLength: false };
    expect((await updateTrainConfig(db, cfg)).errors).toEqual([]);
    const r = await new Queue(db).add('e.jsonl', new Blob([chatJsonl(10, 'e')]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer: await loadTokenizerFrom(folder), template: 'chatml' })).toBe('queued');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await new Queue(db).get(r.itemId!)).status).toBe('completed');
    const samples = (await db.samples.toArray()).filter((s) => s.kind !== 'evolution');
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      expect(s.stopReason).not.toMatch(/^error/);
      expect(s.prompt).toMatch(/For this task, think with .+ times\.\n\nWhen finished, emit .+ to signal completion\.$/);
      // the contract is recorded on the row: the emojis and counts produced, followed or not
      expect(s.outcome).toMatchObject({ kind: 'emoji_contract', thinkCount: expect.any(Number), stopCount: expect.any(Number), followed: expect.any(Boolean) });
    }
    loop.dispose();
    expect((await db.models.get('tiny'))!.codebook).toBeUndefined();

    const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder, fallbackTokenizerRef: 'mem:' });
    const p = await api.previewExample(r.itemId!, 1);
    expect(p.profile).toBe('emoji_think');
    expect(p.codebook).toBeNull();
    const answer = p.messages.at(-1)!.content;
    expect(answer).toMatch(/^(\p{Extended_Pictographic}\uFE0F?){2,8}\na\d\n/u);
    const trainedText = p.tokens.filter((t) => t.trained).map((t) => t.text).join('');
    expect(trainedText).toBe(`${answer}<|im_end|>`); // split emoji decoded whole, not as U+FFFD pieces
    expect(p.tokens.some((t) => t.partOfPrevious && t.text === '')).toBe(true);
    expect(p.tokens.every((t) => t.id < FIXTURE_VOCAB)).toBe(true);
    expect(p.templateText.startsWith('<|im_start|>system\n')).toBe(true);
  });
});
