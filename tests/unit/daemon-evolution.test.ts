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
import { MetricsRepo, SettingsRepo, evolutionPromptsKey } from '../../src/store/state.ts';
import { promptSet } from '../../src/daemon/evolution.ts';
import type { SampleRow } from '../../src/store/db.ts';
import { isEvolutionStep, parseEvolutionSchedule } from '../../src/engine/config/evolution-schedule.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
});
const freshDb = scratchDbs('daemon-evolution');

describe('evolution schedule', () => {
  it('lists steps, then every N after the last; a malformed schedule names the field', () => {
    const s = parseEvolutionSchedule('0,10,25,50,100,250,500,1000,every 1000');
    expect([0, 10, 25, 1000, 2000, 5000].every((k) => isEvolutionStep(s, k))).toBe(true);
    expect([1, 11, 1500, 2001].some((k) => isEvolutionStep(s, k))).toBe(false);
    expect(isEvolutionStep(parseEvolutionSchedule('3, 1'), 1)).toBe(true);
    expect(() => parseEvolutionSchedule('0,ten')).toThrow(/evolutionSchedule.*"ten"/);
    expect(() => parseEvolutionSchedule('every 0')).toThrow(/evolutionSchedule/);
  });
});

describe('evolution snapshots in the daemon', () => {
  it('answers the same fixed prompts at the scheduled global steps across files, apart from the running samples', async () => {
    const db = freshDb();
    const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 64 * 1024, pollMs: 10 });
    await loop.recover();
    const cfg = { batchSize: 2, maxLength: 128, saveSteps: 0, evalSteps: 0, warmupSteps: 0, valFraction: 0.2, valMax: 2, sampleEvery: 2, evolutionPrompts: 2, evolutionSchedule: '0,2,every 3', bucketByLength: false };
    expect((await updateTrainConfig(db, cfg)).errors).toEqual([]);
    const tokenizer = await loadTokenizerFrom(folder);
    for (const tag of ['a', 'b']) {
      const r = await new Queue(db).add(`${tag}.jsonl`, new Blob([chatJsonl(10, tag)]), 'normal', false);
      expect(await validateItem(db, r.itemId!, { tokenizer, template: 'chatml' })).toBe('queued');
    }
    expect(await loop.runUntilIdle()).toBe('idle');
    loop.dispose();
    const repo = new MetricsRepo(db);
    const snaps = await repo.evolution('tiny');
    // two files of 4 steps: due before global steps 0, 2, 3 (first file) and 6 (second file)
    expect(snaps.map((r) => `${r.step}:${r.promptIndex}`)).toEqual(['0:0', '0:1', '2:0', '2:1', '3:0', '3:1', '6:0', '6:1']);
    for (const r of snaps) expect(r.stopReason).not.toMatch(/^error/);
    // the prompts are fixed: drawn from the first file's held-out chats, asked again in the second file
    const prompts = new Set(snaps.map((r) => `${r.promptIndex}|${r.prompt}`));
    expect(prompts.size).toBe(2);
    for (const p of prompts) expect(p).toMatch(/^\d\|a/);
    // running samples and their counts never include snapshots
    expect((await repo.samples('tiny')).every((r) => r.kind === undefined)).toBe(true);

    // the person chooses their own prompts: the next snapshots ask them, under new prompt indices
    await new SettingsRepo(db).set(evolutionPromptsKey('tiny'), ['What is 2 + 2?', 'Name a colour.', 'Say hi.']);
    const loop2 = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 64 * 1024, pollMs: 10 });
    await loop2.recover();
    const r = await new Queue(db).add('c.jsonl', new Blob([chatJsonl(10, 'c')]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'chatml' })).toBe('queued');
    expect(await loop2.runUntilIdle()).toBe('idle');
    loop2.dispose();
    const later = (await repo.evolution('tiny')).filter((x) => x.step > 6);
    expect(later.map((x) => `${x.step}:${x.promptIndex}:${x.prompt}`)).toEqual(['9:2:What is 2 + 2?', '9:3:Name a colour.', '9:4:Say hi.']);
  });

  it('keeps the latest prompt set until the person chooses another, which gets indices after every stored one', () => {
    const drawn = [{ prompt: [{ role: 'user' as const, content: 'drawn 0' }], golden: 'g' }];
    const row = (step: number, promptIndex: number, content: string): SampleRow => ({
      modelId: 'm', step, time: 0, itemId: 1, prompt: content, golden: '', answer: '', match: false, stopReason: 'eos', ms: 0,
      kind: 'evolution', promptIndex, messages: [{ role: 'user', content }],
    });
    expect(promptSet([], undefined, drawn)).toEqual({ first: 0, chats: drawn });
    const stored = [row(0, 0, 'drawn 0'), row(10, 0, 'drawn 0')];
    expect(promptSet(stored, undefined, [])).toEqual({ first: 0, chats: [{ prompt: [{ role: 'user', content: 'drawn 0' }], golden: '' }] });
    const chosen = promptSet(stored, ['mine'], drawn);
    expect(chosen).toEqual({ first: 1, chats: [{ prompt: [{ role: 'user', content: 'mine' }], golden: '' }] });
    // once asked, the chosen set is the latest one and keeps its indices
    expect(promptSet([...stored, row(25, 1, 'mine')], ['mine'], drawn).first).toBe(1);
    expect(promptSet([...stored, row(25, 1, 'mine')], undefined, drawn).first).toBe(1);
  });
});
