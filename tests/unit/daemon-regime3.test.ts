import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { loadTrainConfig, updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { buildProfile, codebookTokens } from '../../src/daemon/codebook.ts';
import { CODEBOOK_FILE } from '../../src/daemon/transfer.ts';
import { storeFolder } from '../../src/daemon/folders.ts';
import { generateExample } from '../../src/regime3/tasks.ts';
import { normalizeRow } from '../../src/engine/data/normalize.ts';
import type { StoredTrainerState } from '../../src/daemon/session.ts';
import { FIXTURE_VOCAB, chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(5);
});

const freshDb = scratchDbs('daemon-regime3');

/** `count` arithmetic examples with canonical S-expression answers (gen-data's generator). */
function arithJsonl(count: number, seed: number): string {
  return Array.from({ length: count }, (_, i) => JSON.stringify(generateExample('arith', seed, i))).join('\n') + '\n';
}

/** 8 training examples per file at batch 2 → 4 steps per file. */
const CONFIG = {
  profile: 'regime3',
  'regime3.codebookSize': 24,
  batchSize: 2,
  maxLength: 256,
  saveSteps: 2,
  logEvery: 1,
  evalSteps: 0,
  warmupSteps: 0,
  valFraction: 0,
  learningRate: 1e-2,
  bucketByLength: false,
};

async function setup(extra: Record<string, unknown> = {}) {
  const db = freshDb();
  const make = (onStep?: ConstructorParameters<typeof TrainingLoop>[0]['onStep']) =>
    new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 64 * 1024, pollMs: 10, onStep });
  const loop = make();
  await loop.recover();
  const cfg = await updateTrainConfig(db, { ...CONFIG, ...extra });
  expect(cfg.errors).toEqual([]);
  const queue = new Queue(db);
  const tokenizer = await loadTokenizerFrom(folder);
  const add = async (name: string, text: string) => {
    const r = await queue.add(name, new Blob([text]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'chatml' })).toBe('queued');
    return r.itemId!;
  };
  const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder, fallbackTokenizerRef: 'mem:' });
  return { db, loop, make, queue, add, api };
}

async function latestVocab(loop: TrainingLoop, modelId: string): Promise<number> {
  const [c] = await loop.checkpoints.list(modelId);
  return (c.trainerState as unknown as StoredTrainerState).modelConfig.vocabSize;
}

describe('regime3 in the daemon', () => {
  it('builds the codebook once from the first file, grows the vocabulary once, and reuses both for later files and resumes', async () => {
    const { db, loop, make, queue, add } = await setup();
    const a = await add('a.jsonl', arithJsonl(8, 1));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(a)).status).toBe('completed');
    const m1 = (await db.models.get('tiny'))!;
    expect(m1.codebook?.format).toBe('regime3-codebook');
    expect(m1.codebook!.size).toBeLessThanOrEqual(24);
    const tokens = codebookTokens(m1.codebook);
    const grown = FIXTURE_VOCAB + tokens.length;
    expect(await latestVocab(loop, 'tiny')).toBe(grown);
    expect(m1.lineage).toHaveLength(1);
    expect(m1.lineage[0]).toMatchObject({ fileName: 'a.jsonl', outcome: 'completed', fromStep: 0, toStep: 4, codebook: { size: m1.codebook!.size, addedTokens: tokens.length, vocabSize: grown } });
    const metrics = await db.metrics.toArray();
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(metrics.every((m) => Number.isFinite(m.loss))).toBe(true);

    // A second file (different answers) reuses the stored codebook: no rebuild, no growth.
    const b = await add('b.jsonl', arithJsonl(8, 2));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(b)).status).toBe('completed');
    const m2 = (await db.models.get('tiny'))!;
    expect(m2.codebook).toEqual(m1.codebook);
    expect(await latestVocab(loop, 'tiny')).toBe(grown);
    expect(m2.lineage.filter((l) => l.codebook)).toHaveLength(1);
    loop.dispose();

    // A new trainer (a reload) resumes from the checkpoint with the same vocabulary and codebook.
    const again = make();
    await again.recover();
    const c = await add('c.jsonl', arithJsonl(8, 3));
    expect(await again.runUntilIdle()).toBe('idle');
    expect((await queue.get(c)).status).toBe('completed');
    expect((await db.models.get('tiny'))!.codebook).toEqual(m1.codebook);
    expect(await latestVocab(again, 'tiny')).toBe(grown);
    expect((await db.models.get('tiny'))!.step).toBe(12);
    again.dispose();
  });

  it('switching a plain-trained model to regime3 grows the vocabulary and the optimizer moments; samples use the profile', async () => {
    const { db, loop, queue, add } = await setup({ profile: 'plain_sft', valFraction: 0.2, valMax: 2, sampleEvery: 2 });
    await add('plain.jsonl', chatJsonl(10, 'p'));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect(await latestVocab(loop, 'tiny')).toBe(FIXTURE_VOCAB);
    expect((await updateTrainConfig(db, { profile: 'regime3' })).errors).toEqual([]);
    const r = await add('r.jsonl', arithJsonl(10, 4));
    expect(await loop.runUntilIdle()).toBe('idle');
    const row = await queue.get(r);
    expect(row.status).toBe('completed');
    const model = (await db.models.get('tiny'))!;
    expect(await latestVocab(loop, 'tiny')).toBe(FIXTURE_VOCAB + codebookTokens(model.codebook).length);
    expect(model.lineage.map((l) => [l.fileName, l.outcome, l.codebook !== undefined])).toEqual([
      ['plain.jsonl', 'completed', false],
      ['r.jsonl', 'completed', true],
    ]);
    // Optimizer slots of the embedding were grown with the weights (the checkpoint holds both at the new size).
    const [ck] = await loop.checkpoints.list('tiny');
    const emb = ck.tensors.filter((t) => t.name.includes('embed_tokens'));
    expect(emb.length).toBe(3); // weight, m, v
    for (const t of emb) expect(t.shape).toContain(FIXTURE_VOCAB + codebookTokens(model.codebook).length);
    // Sample answers of the regime3 file ran with its processors and compare (no errors), golden in codes.
    const samples = (await db.samples.toArray()).filter((s) => s.itemId === r && s.kind !== 'evolution');
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      expect(s.stopReason).not.toMatch(/^error/);
      expect(s.golden).toMatch(/^<<ANS_START>> <E\d+>.* <<ANS_END>>$/);
      // the outcome is recorded: right, wrong, or a decode failure with its reason
      expect(s.outcome?.kind).toBe('regime3');
      if (s.outcome?.kind === 'regime3') expect(s.outcome.result === 'decode_failure').toBe(s.outcome.reason !== null);
    }
    loop.dispose();
  });

  it('export writes regime3-codebook.json and the tokenizer with the codes; import reads them back; the import trains without growing', async () => {
    const { db, loop, add, api } = await setup();
    await add('a.jsonl', arithJsonl(8, 1));
    await loop.runUntilIdle();
    const model = (await db.models.get('tiny'))!;
    const [ck] = await api.listCheckpoints('tiny');
    const exp = await api.exportCheckpoint(ck.id);
    expect(exp.files).toContain(CODEBOOK_FILE);
    const files = unzipSync(new Uint8Array(await exp.zip!.arrayBuffer()));
    expect(JSON.parse(new TextDecoder().decode(files[CODEBOOK_FILE]))).toEqual(model.codebook);
    const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as { vocab_size: number };
    const tokens = codebookTokens(model.codebook);
    expect(config.vocab_size).toBe(FIXTURE_VOCAB + tokens.length);
    const tokJson = JSON.parse(new TextDecoder().decode(files['tokenizer.json'])) as { added_tokens: { id: number; content: string }[] };
    const ids = new Map(tokJson.added_tokens.map((t) => [t.content, t.id]));
    tokens.forEach((t, i) => expect(ids.get(t)).toBe(FIXTURE_VOCAB + i));
    const tokConfig = JSON.parse(new TextDecoder().decode(files['tokenizer_config.json'])) as { added_tokens_decoder: Record<string, { content: string }> };
    expect(tokConfig.added_tokens_decoder[String(FIXTURE_VOCAB)].content).toBe(tokens[0]);

    const imported = await api.importModel({ zip: exp.zip! }, 'regime3 round trip');
    expect(imported.codebook).toEqual(model.codebook);
    const tok = await loadTokenizerFrom(storeFolder(db, imported.id));
    expect(tok.vocabSize).toBe(FIXTURE_VOCAB + tokens.length);
    expect(tok.tokenToId(tokens[5])).toBe(FIXTURE_VOCAB + 5);

    // The imported model trains a regime3 file with its own codebook: nothing rebuilt, vocabulary unchanged.
    await api.setActiveModel(imported.id);
    await add('b.jsonl', arithJsonl(8, 2));
    const loop2 = new TrainingLoop({ db, folder: (ref) => (ref === 'mem:' ? folder : storeFolder(db, ref.slice('import:'.length))), bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 64 * 1024, pollMs: 10 });
    loop.dispose();
    expect(await loop2.runUntilIdle()).toBe('idle');
    const after = (await db.models.get(imported.id))!;
    expect(after.codebook).toEqual(model.codebook);
    expect(after.lineage.map((l) => [l.fileName, l.outcome])).toEqual([['b.jsonl', 'completed']]);
    expect(await latestVocab(loop2, imported.id)).toBe(FIXTURE_VOCAB + tokens.length);
    loop2.dispose();

    // A malformed codebook file fails the import, naming the file.
    const bad = { ...files, [CODEBOOK_FILE]: new TextEncoder().encode('{"format":"nope"}') };
    await expect(api.importModel({ files: Object.entries(bad).map(([path, b]) => ({ path, blob: new Blob([b]) })) })).rejects.toThrow(/regime3-codebook\.json/);
  });

  it('transitional mode: a file resumed after a crash is transformed as at its start, so the run matches an uninterrupted one', async () => {
    const extra = { 'regime3.mode': 'transitional', 'regime3.plainRatioStart': 1, 'regime3.plainRatioEnd': 0, 'regime3.transitionSteps': 8 };
    const ref = await setup(extra);
    await ref.add('t.jsonl', arithJsonl(12, 5));
    await ref.loop.runUntilIdle();
    const refLosses = (await ref.db.metrics.toArray()).map((m) => m.loss!);
    expect(refLosses).toHaveLength(6);
    ref.loop.dispose();

    const { db, make, queue, add } = await setup(extra);
    const hang = new Promise<void>(() => undefined);
    const crashing = make(async (m) => {
      if (m.step === 3) await hang; // the worker dies: step 3 trained, the last checkpoint at step 2
    });
    const id = await add('t.jsonl', arithJsonl(12, 5));
    void crashing.tick();
    for (let i = 0; i < 400 && (await db.daemon.get('state'))?.step !== 3; i++) await new Promise((r) => setTimeout(r, 25));
    const fresh = make();
    await fresh.recover();
    expect((await queue.get(id)).progress.fileStep).toBe(2);
    expect(await fresh.runUntilIdle()).toBe('idle');
    const losses = (await db.metrics.toArray()).map((m) => m.loss!);
    expect(losses).toHaveLength(6);
    losses.forEach((l, i) => expect(l).toBeCloseTo(refLosses[i], 4));
    fresh.dispose();
  });

  it('growing the vocabulary under LoRA is refused with a clear reason (adapters do not train embeddings); the file is not charged', async () => {
    const { db, loop, queue, add, api } = await setup({ 'lora.enabled': true });
    const id = await add('l.jsonl', arithJsonl(8, 1));
    await loop.tick();
    const row = await queue.get(id);
    // a config problem pauses the daemon with the reason; the file waits, no attempt used
    expect(row.status).toBe('paused');
    expect(row.attempts).toBe(0);
    expect(row.reason).toMatch(/new token embeddings \(regime-3 codes\), which LoRA does not train: train its first regime3 file with lora.enabled false/);
    expect((await db.daemon.get('state'))!.status).toBe('paused');
    expect((await db.models.get('tiny'))!.codebook).toBeDefined(); // built once, kept for the retry without LoRA
    expect((await updateTrainConfig(db, { 'lora.enabled': false })).errors).toEqual([]);
    await api.resume('LoRA off');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    loop.dispose();
  });

  it('validation: under regime3 a non-canonical answer fails the file with its line (even when skipping invalid lines); plain_sft queues it', async () => {
    const { db, queue } = await setup();
    const tokenizer = await loadTokenizerFrom(folder);
    const lines = arithJsonl(4, 9).trim().split('\n');
    lines.splice(2, 0, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '(unclosed 1' }] }));
    for (const skip of [false, true]) {
      const r = await queue.add(`bad-${skip}.jsonl`, new Blob([lines.join('\n')]), 'normal', skip);
      expect(await validateItem(db, r.itemId!, { tokenizer, template: 'chatml' })).toBe('failed');
      const row = await queue.get(r.itemId!);
      expect(row.lineErrors).toEqual([expect.objectContaining({ line: 3, field: 'messages[1].content', message: expect.stringMatching(/not a canonical S-expression/) })]);
      expect(row.reason).toMatch(/1 line the regime3 profile cannot train on \(first: line 3/);
    }
    expect((await updateTrainConfig(db, { profile: 'plain_sft' })).errors).toEqual([]);
    const ok = await queue.add('plain.jsonl', new Blob([lines.join('\n')]), 'normal', false);
    expect(await validateItem(db, ok.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
  });

  it('preview api: tokens marked trained/masked as encodeChat marks them, provisional codebook before training, the model one after', async () => {
    const { db, loop, add, api } = await setup();
    const text = arithJsonl(8, 7);
    const id = await add('p.jsonl', text);
    const before = await api.previewExample(id, 3);
    expect(before.codebook).toBe('provisional');
    expect(before.line).toBe(4);
    const row3 = normalizeRow(JSON.parse(text.split('\n')[3]));
    expect(row3.ok && before.raw).toEqual(row3.ok && row3.example);
    expect(before.messages.at(-1)!.content).toMatch(/^<<ANS_START>> .* <<ANS_END>>$/);
    expect(before.templateText).toContain('<|im_start|>assistant');
    await expect(api.previewExample(id, 8)).rejects.toThrow(/has no example 8: it has 8/);
    expect((await api.previewRegime3('(add 1 2)')).message).toMatch(/no regime-3 codebook yet/);
    expect(await api.codebook()).toBeNull();

    await loop.runUntilIdle();
    loop.dispose();
    const model = (await db.models.get('tiny'))!;
    const p = await api.previewExample(id, 3);
    expect(p.codebook).toBe('model');
    // Independent check: the model's tokenizer and profile, encodeChat's mask.
    const tokenizer = await loadTokenizerFrom(folder);
    tokenizer.addTokens(codebookTokens(model.codebook));
    const profile = buildProfile(await loadTrainConfig(db), model.codebook);
    const messages = profile.transform(p.raw, 3, { step: model.step });
    expect(p.messages).toEqual(messages);
    const enc = tokenizer.encodeChat(messages, { template: 'chatml' });
    expect(p.tokens.map((t) => t.id)).toEqual(Array.from(enc.ids));
    expect(p.tokens.map((t) => (t.trained ? 1 : 0))).toEqual(Array.from(enc.trainMask));
    expect(p.counts.trained).toBe(Array.from(enc.trainMask).filter((x) => x === 1).length);
    expect(p.counts.trained + p.counts.masked).toBe(p.counts.total);
    expect(p.counts.trained).toBeGreaterThan(0);
    expect(p.counts.masked).toBeGreaterThan(0);
    expect(p.tokens.some((t) => t.trained && /^<E\d+>$/.test(t.text))).toBe(true);

    // regime-3 pane and codebook rows
    const answer = JSON.parse(text.split('\n')[0]).messages[1].content as string;
    const r3 = await api.previewRegime3(answer);
    expect(r3.codebookSize).toBe(model.codebook!.size);
    expect(r3.preview?.ok).toBe(true);
    if (r3.preview?.ok) {
      expect(r3.preview.decoded).toBe(r3.preview.canonical);
      expect(r3.preview.tokensBefore).toBe(tokenizer.encode(r3.preview.canonical).length);
      expect(r3.preview.tokensAfter).toBe(tokenizer.encode(r3.preview.codes).length);
      expect(r3.preview.ratio).toBeCloseTo(r3.preview.tokensBefore! / r3.preview.tokensAfter!, 10);
    }
    const bad = await api.previewRegime3('(add 1');
    expect(bad.preview?.ok).toBe(false);
    const book = await api.codebook();
    expect(book?.rows.length).toBe(model.codebook!.size);
    expect(book?.rows[0]).toMatchObject({ code: '<E000>', kind: 'token', expansion: '(' });

    // plain_sft preview of the same item: the stock template, nothing coded.
    expect((await updateTrainConfig(db, { profile: 'plain_sft' })).errors).toEqual([]);
    const plain = await api.previewExample(id, 3);
    expect(plain.codebook).toBeNull();
    expect(plain.messages.at(-1)!.content).toBe(p.raw.messages.at(-1)!.content);
  });
});
