/**
 * Job export (issue 15): a model and its queue as a training job for a GPU cluster. The zip's axolotl.yaml is parsed
 * and every key checked against Axolotl's documented options (tests/fixtures/axolotl/config-options.json, with its
 * source); the JSONL is read back through this project's validator and equals the profile's transform of the
 * queued examples (regime-3 codes included), the held-out split apart; the codebook and its tokens travel with it.
 */
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { updateTrainConfig, loadTrainConfig } from '../../src/daemon/config.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { buildProfile, codebookTokens, ensureModelCodebook } from '../../src/daemon/codebook.ts';
import { ModelRepo } from '../../src/store/state.ts';
import { validateStream } from '../../src/engine/data/validate.ts';
import { normalizeRow } from '../../src/engine/data/normalize.ts';
import { generateExample } from '../../src/regime3/tasks.ts';
import type { ChatMessage } from '../../src/engine/types.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

interface AxolotlOptions {
  topLevel: string[];
  datasetEntry: string[];
  chatTemplate: string[];
  lrScheduler: string[];
  adapter: string[];
}
const AXOLOTL = JSON.parse(readFileSync(new URL('../fixtures/axolotl/config-options.json', import.meta.url), 'utf8')) as AxolotlOptions;

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(5);
});
const freshDb = scratchDbs('export-job');

async function setup(config: Record<string, unknown>) {
  const db = freshDb();
  const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 64 * 1024, pollMs: 10 });
  await loop.recover();
  expect((await updateTrainConfig(db, config)).errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const add = async (name: string, text: string, template: 'stock' | 'chatml') => {
    const r = await new Queue(db).add(name, new Blob([text]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template })).toBe('queued');
    return r.itemId!;
  };
  const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder, fallbackTokenizerRef: 'mem:' });
  return { db, api, add };
}

const arithJsonl = (count: number, seed: number) => Array.from({ length: count }, (_, i) => JSON.stringify(generateExample('arith', seed, i))).join('\n') + '\n';
const unzip = async (zip: Blob) => unzipSync(new Uint8Array(await zip.arrayBuffer()));
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);

/** Every key of `obj` that is not among `allowed`. */
const unknownKeys = (obj: Record<string, unknown>, allowed: string[]) => Object.keys(obj).filter((k) => !allowed.includes(k));

/** Axolotl's checks across keys that touch the ones written here (src/axolotl/utils/schemas/validation.py, same commit as the fixture). */
function crossKeyProblems(y: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (y.test_datasets && y.val_set_size) out.push('non-zero val_set_size with test_datasets');
  if (y.save_strategy && y.save_steps && y.save_strategy !== 'steps') out.push('save_strategy and save_steps mismatch');
  if (y.eval_strategy && y.eval_steps && y.eval_strategy !== 'steps') out.push('eval_strategy and eval_steps mismatch');
  if (y.val_set_size === 0 && (y.eval_steps || y.eval_strategy) && !y.test_datasets && y.eval_strategy !== 'no') out.push('eval without an eval set');
  return out;
}

describe('job export', () => {
  it('a regime3 LoRA job: documented Axolotl keys, the transformed JSONL read back by the validator, the codebook and its tokens', async () => {
    const { db, api, add } = await setup({
      profile: 'regime3',
      'regime3.codebookSize': 24,
      'lora.enabled': true,
      'lora.rank': 4,
      'lora.alpha': 8,
      batchSize: 2,
      gradAccumSteps: 3,
      learningRate: 5e-4,
      schedule: 'cosine',
      maxLength: 512,
      valFraction: 0.25,
      evalSteps: 5,
    });
    const files = { 'arith-a.jsonl': arithJsonl(8, 1), 'arith-b.jsonl': arithJsonl(6, 2) };
    const ids = [await add('arith-a.jsonl', files['arith-a.jsonl'], 'chatml'), await add('arith-b.jsonl', files['arith-b.jsonl'], 'chatml')];
    // the codebook as the daemon builds it when the first regime3 file starts
    const cfg = await loadTrainConfig(db);
    const model = await ensureModelCodebook(db, (await new ModelRepo(db).active())!, cfg, (await db.queue.get(ids[0]))!);
    expect(model.codebook).toBeDefined();

    const job = await api.exportJob({ gpus: 4 });
    const zip = await unzip(job.zip);
    const top = job.fileName.replace(/\.zip$/, '');
    const file = (p: string) => {
      expect(zip[`${top}/${p}`], p).toBeDefined();
      return utf8(zip[`${top}/${p}`]);
    };
    expect(Object.keys(zip).sort()).toEqual(job.files.slice().sort());

    // axolotl.yaml: every key documented, the values the workbench trains with
    const y = parse(file('axolotl.yaml')) as Record<string, unknown>;
    expect(unknownKeys(y, AXOLOTL.topLevel)).toEqual([]);
    expect(crossKeyProblems(y)).toEqual([]);
    // PyYAML (Axolotl's reader, YAML 1.1) reads `1e-8` as a string: exponents come with a dot in the mantissa
    expect(file('axolotl.yaml')).not.toMatch(/: -?\d+e[-+]?\d+$/m);
    expect(y.adam_epsilon).toBe(1e-8);
    for (const d of [...(y.datasets as Record<string, unknown>[]), ...(y.test_datasets as Record<string, unknown>[])]) {
      expect(unknownKeys(d, AXOLOTL.datasetEntry)).toEqual([]);
      expect(d.type).toBe('chat_template');
      file(d.path as string);
    }
    expect(AXOLOTL.chatTemplate).toContain(y.chat_template);
    expect(AXOLOTL.lrScheduler).toContain(y.lr_scheduler);
    expect(AXOLOTL.adapter).toContain(y.adapter);
    expect(y).toMatchObject({
      base_model: cfg.baseModel,
      chat_template: 'chatml',
      adapter: 'lora',
      lora_r: 4,
      lora_alpha: 8,
      lora_target_modules: cfg.lora.targetModules,
      lora_modules_to_save: ['embed_tokens', 'lm_head'],
      micro_batch_size: 2,
      gradient_accumulation_steps: 3,
      learning_rate: 5e-4,
      lr_scheduler: 'cosine',
      sequence_len: 512,
      eval_steps: 5,
      train_on_inputs: false,
    });
    expect((y.datasets as unknown[]).length).toBe(2);

    // the codebook and its added tokens, in the model's order
    const tokens = codebookTokens(model.codebook);
    expect(tokens.length).toBeGreaterThan(24);
    expect(y.tokens).toEqual(tokens);
    expect(JSON.parse(file('added_tokens.json'))).toEqual(tokens);
    expect(JSON.parse(file('regime3-codebook.json'))).toEqual(model.codebook);

    // the data: read back through the validator (with the codes as tokens), equal to the profile's transform
    const tokenizer = await loadTokenizerFrom(folder);
    tokenizer.addTokens(tokens);
    const profile = buildProfile(cfg, model.codebook);
    const expected = { train: [] as ChatMessage[][], eval: [] as ChatMessage[][] };
    for (const [k, name] of (['arith-a.jsonl', 'arith-b.jsonl'] as const).entries()) {
      const item = (await db.queue.get(ids[k]))!;
      files[name].trim().split('\n').forEach((line, i) => {
        const n = normalizeRow(JSON.parse(line));
        if (!n.ok) throw new Error('fixture row invalid');
        (item.heldOut.includes(i) ? expected.eval : expected.train).push(profile.transform(n.example, i, { step: 0 }));
      });
    }
    expect(expected.eval.length).toBe(3); // 25 % of 8 and of 6, floored
    const readBack = async (path: string) => {
      const lines: ChatMessage[][] = [];
      const report = await validateStream(new Blob([zip[`${top}/${path}`]]).stream() as ReadableStream<Uint8Array>, {
        tokenizer,
        maxLength: 512, // the job's sequence_len
        template: 'chatml',
        file: path,
        onExample: (ex) => void lines.push(ex.messages),
      });
      expect(report.valid, `${path}: ${JSON.stringify([report.fileErrors, report.errors])}`).toBe(true);
      expect(report.errorCount).toBe(0);
      return lines;
    };
    const trainPaths = (y.datasets as { path: string }[]).map((d) => d.path);
    const train = [...(await readBack(trainPaths[0])), ...(await readBack(trainPaths[1]))];
    expect(train).toEqual(expected.train);
    expect(await readBack('data/eval.jsonl')).toEqual(expected.eval);
    expect(job.trainExamples).toBe(11);
    expect(job.evalExamples).toBe(3);
    // the answers are codes, not the S-expressions of the queued file
    const answer = train[0][train[0].length - 1].content;
    expect(tokens.some((t) => answer.includes(t))).toBe(true);
    expect(answer).not.toBe(JSON.parse(files['arith-a.jsonl'].split('\n')[0]).messages[1].content);

    // TRL: the same numbers; accelerate for 4 GPUs; the README names the commands
    const sft = file('sft.py');
    expect(sft).toContain('"learning_rate": 0.0005');
    expect(sft).toContain('"gradient_accumulation_steps": 3');
    expect(sft).toContain('"r": 4');
    expect(sft).toContain(`"train_files": ["${trainPaths[0]}", "${trainPaths[1]}"]`);
    expect(parse(file('accelerate.yaml'))).toMatchObject({ distributed_type: 'MULTI_GPU', num_processes: 4, mixed_precision: 'bf16' });
    const readme = file('README.md');
    expect(readme).toContain('axolotl train axolotl.yaml');
    expect(readme).toContain('accelerate launch --config_file accelerate.yaml sft.py');
  });

  it('a plain_sft full fine-tune without a held-out split; an empty queue is a clear error', async () => {
    const { api, add } = await setup({ profile: 'plain_sft', valFraction: 0, saveSteps: 0, schedule: 'constant' });
    await expect(api.exportJob()).rejects.toThrow(/The queue has no file to export/);
    await add('chat.jsonl', chatJsonl(5), 'stock');
    const job = await api.exportJob();
    const zip = await unzip(job.zip);
    const top = job.fileName.replace(/\.zip$/, '');
    const y = parse(utf8(zip[`${top}/axolotl.yaml`])) as Record<string, unknown>;
    expect(unknownKeys(y, AXOLOTL.topLevel)).toEqual([]);
    expect(crossKeyProblems(y)).toEqual([]);
    expect(y).toMatchObject({ chat_template: 'tokenizer_default', lr_scheduler: 'constant_with_warmup', eval_strategy: 'no', save_strategy: 'epoch' });
    for (const k of ['adapter', 'lora_r', 'tokens', 'test_datasets']) expect(y).not.toHaveProperty(k);
    expect(Object.keys(zip).filter((p) => p.endsWith('.jsonl'))).toEqual([`${top}/data/train/1-chat.jsonl`]);
    expect(utf8(zip[`${top}/data/train/1-chat.jsonl`]).trim().split('\n')).toHaveLength(5);
    // a preset name is no Hugging Face model: the README says what to put there
    expect(utf8(zip[`${top}/README.md`])).toMatch(/is a workbench preset, not a Hugging Face model/);

    // a mixed item (issue 14) is written as its source files
    const a = await add('a.jsonl', chatJsonl(3, 'x'), 'stock');
    const b = await add('b.jsonl', chatJsonl(4, 'y'), 'stock');
    expect((await api.createMix({ sources: [{ itemId: a, ratio: 2 }, { itemId: b, ratio: 1 }], mode: 'examples' })).refused).toBeUndefined();
    const mixed = await unzip((await api.exportJob()).zip);
    const lineCounts = Object.entries(mixed)
      .filter(([p]) => p.endsWith('.jsonl'))
      .map(([p, bytes]) => [p.replace(/^[^/]+\//, ''), utf8(bytes).trim().split('\n').length]);
    expect(lineCounts).toEqual([['data/train/1-chat.jsonl', 5], ['data/train/2-a.jsonl', 3], ['data/train/3-b.jsonl', 4]]);
  });
});
