import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { createWorkbenchApi, type WorkbenchApi } from '../../src/daemon/api.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { sampleDatasetJsonl, SAMPLE_DATASET_NAME } from '../../src/daemon/sample-dataset.ts';
import { readSafetensors } from '../../src/engine/safetensors.ts';
import { backendChain } from '../../src/daemon/backend-choice.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';
import type { ChatTokenizer } from '../../src/engine/types.ts';

let folder: MemFolder;
let tokenizer: ChatTokenizer;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(5);
  tokenizer = await loadTokenizerFrom(folder);
});

const freshDb = scratchDbs('api-test');

async function setup(): Promise<{ db: WorkbenchDb; api: WorkbenchApi; loop: TrainingLoop; validated: Promise<unknown>[] }> {
  const db = freshDb();
  const validated: Promise<unknown>[] = [];
  const api = createWorkbenchApi({
    db,
    folder: () => folder,
    validate: (ids) => ids.forEach((id) => validated.push(validateItem(db, id, { tokenizer, template: 'stock' }))),
  });
  const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 8192, pollMs: 5 });
  await loop.recover();
  const r = await api.setConfig({ profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0 });
  expect(r.errors).toEqual([]);
  return { db, api, loop, validated };
}

describe('WorkbenchApi', () => {
  it('adds files: validates in the background, flags duplicates, fails bad files with line errors and a report', async () => {
    const { db, api, validated } = await setup();
    const good = chatJsonl(6);
    const bad = good + '{"messages": "nope"}\nnot json\n';
    const res = await api.addFiles(
      [
        { name: 'good.jsonl', blob: new Blob([good]) },
        { name: 'copy.jsonl', blob: new Blob([good]) },
        { name: 'bad.jsonl', blob: new Blob([bad]) },
      ],
      { priority: 'high' },
    );
    expect(res[1].duplicateOf).toBe(res[0].itemId);
    await Promise.all(validated);
    const rows = await db.queue.toArray();
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['good.jsonl', 'queued'],
      ['copy.jsonl', 'queued'],
      ['bad.jsonl', 'failed'],
    ]);
    const badRow = rows[2];
    expect(badRow.lineErrorCount).toBe(2);
    expect(badRow.lineErrors.map((e) => e.line)).toEqual([7, 8]);
    const report = await api.downloadErrorReport(badRow.id!);
    expect(await report.blob.text()).toMatch(/line 7/);

    // skip invalid lines: the same bad file is queued with its valid lines, the skipped ones listed
    const skip = await api.addFiles([{ name: 'bad2.jsonl', blob: new Blob([bad]) }], { priority: 'low', skipInvalidLines: true });
    await Promise.all(validated);
    const row = await db.queue.get(skip[0].itemId!);
    expect(row?.status).toBe('queued');
    expect(row?.skippedLines).toEqual([7, 8]);
    expect(row?.report?.examples).toBe(6);
  });

  it('keeps the backend preference; the chain puts the choice first, automatic tries WebGPU first', async () => {
    const { api } = await setup();
    expect(await api.getBackendPreference()).toBeNull();
    await api.setBackendPreference('webgl');
    expect(await api.getBackendPreference()).toBe('webgl');
    await expect(api.setBackendPreference('tpu' as never)).rejects.toThrow(/unknown backend "tpu"/);
    expect(backendChain('webgl')).toEqual(['webgl', 'wasm', 'cpu']);
    expect(backendChain('wasm')).toEqual(['wasm', 'cpu']);
    expect(backendChain(null)).toEqual(['webgpu', 'wasm', 'cpu']);
    expect(backendChain('bogus')).toEqual(['webgpu', 'wasm', 'cpu']);
  });

  it('validates again the items a reload left validating', async () => {
    const { db, api, validated } = await setup();
    const [r] = await api.addFiles([{ name: 'a.jsonl', blob: new Blob([chatJsonl(5)]) }], { priority: 'normal' });
    await Promise.all(validated);
    await db.queue.update(r.itemId!, { status: 'validating' }); // as if the page died mid-validation
    const again: Promise<unknown>[] = [];
    createWorkbenchApi({ db, validate: (ids) => ids.forEach((id) => again.push(validateItem(db, id, { tokenizer, template: 'stock' }))) });
    for (let i = 0; i < 50 && again.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    await Promise.all(again);
    expect((await db.queue.get(r.itemId!))?.status).toBe('queued');
  });

  it('queues the example dataset in one click', async () => {
    const { db, api, validated } = await setup();
    await api.setConfig({ maxLength: 96 }); // byte-level test tokenizer: ~1 token per character
    const [r] = await api.addSampleDataset();
    await Promise.all(validated);
    const row = await db.queue.get(r.itemId!);
    expect(row?.name).toBe(SAMPLE_DATASET_NAME);
    expect(row?.reason).toBeUndefined();
    expect(row?.status).toBe('queued');
    expect(row?.report?.examples).toBe(96);
    expect(sampleDatasetJsonl()).toBe(sampleDatasetJsonl());
  });

  it('locks model-defining config fields once the model is trained, with a reason', async () => {
    const { api, loop, validated } = await setup();
    expect((await api.setConfig({ maxContext: 2048 })).ok).toBe(true);
    const bad = await api.setConfig({ batchSize: 0 });
    expect(bad.ok).toBe(false);
    expect(bad.errors[0].field).toBe('batchSize');
    await api.addFiles([{ name: 'a.jsonl', blob: new Blob([chatJsonl(4)]) }], { priority: 'normal' });
    await Promise.all(validated);
    await loop.runUntilIdle();
    const locked = await api.setConfig({ maxContext: 4096 });
    expect(locked.ok).toBe(false);
    expect(locked.errors[0].message).toMatch(/locked/);
    expect((await api.setConfig({ learningRate: 1e-3 })).ok).toBe(true);
    expect((await api.getConfig())['maxContext']).toBe(2048);
    loop.dispose();
  });

  it('exports a checkpoint as a Hugging Face zip that imports back; deletion names what is lost and protects the latest', async () => {
    const { db, api, loop, validated } = await setup();
    await api.addFiles([{ name: 'a.jsonl', blob: new Blob([chatJsonl(12)]) }], { priority: 'normal' });
    await Promise.all(validated);
    await loop.runUntilIdle();
    const list = await api.listCheckpoints('tiny');
    expect(list.map((c) => c.step)).toEqual([6, 4, 2]);
    const exp = await api.exportCheckpoint(list[0].id, { dtype: 'float32' });
    expect(exp.fileName).toBe('tiny-step6.zip');
    const files = unzipSync(new Uint8Array(await exp.zip!.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const st = readSafetensors(files['model.safetensors']);
    expect([...st.tensors.keys()]).toContain('model.layers.0.self_attn.q_proj.weight');
    expect([...st.tensors.keys()]).toContain('model.embed_tokens.weight');

    // BF16 export: half the bytes, values within bfloat16 rounding of the F32 ones
    const bf = unzipSync(new Uint8Array(await (await api.exportCheckpoint(list[0].id, { dtype: 'bfloat16' })).zip!.arrayBuffer()));
    const header = JSON.parse(new TextDecoder().decode(bf['model.safetensors'].subarray(8, 8 + Number(new DataView(bf['model.safetensors'].buffer, bf['model.safetensors'].byteOffset).getBigUint64(0, true)))));
    expect(header['model.norm.weight'].dtype).toBe('BF16');
    const a = st.tensors.get('model.layers.0.mlp.up_proj.weight')!.data;
    const b = readSafetensors(bf['model.safetensors']).tensors.get('model.layers.0.mlp.up_proj.weight')!.data;
    a.forEach((x, i) => expect(Math.abs(b[i] - x)).toBeLessThanOrEqual(Math.abs(x) / 128 + 1e-30));

    const imported = await api.importModel({ zip: exp.zip! }, 'round trip');
    expect(imported.config.hiddenSize).toBe(32);
    expect(await db.modelFiles.where('modelId').equals(imported.id).count()).toBe(5);
    // a broken folder is refused, naming the file
    delete files['tokenizer.json'];
    await expect(api.importModel({ files: Object.entries(files).map(([path, b]) => ({ path: `m/${path}`, blob: new Blob([b]) })) })).rejects.toThrow(/no tokenizer.json/);

    const latest = await api.planCheckpointDeletion(list[0].id);
    expect(latest.allowed).toBe(false);
    expect(latest.message).toMatch(/latest/);
    const old = await api.deleteCheckpoint(list[2].id);
    expect(old.allowed).toBe(true);
    expect(old.message).toMatch(/step 2 .*a\.jsonl/);
    expect(old.message).toMatch(/Automatic retention would keep it: younger than 36 hours\./); // the warning names what protected it
    expect((await api.listCheckpoints('tiny')).map((c) => c.step)).toEqual([6, 4]);
    await api.pinCheckpoint(list[1].id, true);
    expect((await api.planCheckpointDeletion(list[1].id)).message).toMatch(/pinned/);
    loop.dispose();
  });

  it('set active on an older checkpoint resumes training from it; its later history is kept as a set-aside branch', async () => {
    const { db, api, loop, validated } = await setup();
    await api.addFiles([{ name: 'a.jsonl', blob: new Blob([chatJsonl(12)]) }], { priority: 'normal' });
    await Promise.all(validated);
    await loop.runUntilIdle();
    const before = await db.metrics.toArray();
    const older = (await api.listCheckpoints('tiny')).find((c) => c.step === 4)!;
    const newer = (await api.listCheckpoints('tiny')).find((c) => c.step === 6)!;
    expect((await api.planRollback(newer.id)).rollback).toBe(false); // the latest: nothing to confirm
    const plan = await api.planRollback(older.id);
    expect(plan.rollback).toBe(true);
    expect(plan.message).toMatch(/^Training continues from step 4 of Tiny\. The 1 newer checkpoint \(step 6\) and the loss history after step 4 become the side branch 'main'/);
    await api.setActiveCheckpoint(older.id);
    await api.addFiles([{ name: 'b.jsonl', blob: new Blob([chatJsonl(4, 'b')]) }], { priority: 'normal' });
    await Promise.all(validated);
    await loop.runUntilIdle();
    expect((await db.models.get('tiny'))?.step).toBe(6); // 4 + 2 steps of b.jsonl
    const list = await api.listCheckpoints('tiny');
    expect([list[0].step, list[0].branch]).toEqual([6, 'b2']);
    expect(list.find((c) => c.id === newer.id)?.abandonedAt).toBeGreaterThan(0); // the abandoned one is kept
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await db.metricsArchive.toArray()).map(({ branch, ...r }) => [branch, r])).toEqual(before.slice(4).map((r) => ['main', r]));
    loop.dispose();
  });
});
