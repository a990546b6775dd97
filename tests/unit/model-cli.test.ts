// CLI make-model / logits / generate end to end on the tiny preset (full 151936 vocabulary, real tokenizer):
// deterministic folders, .npy logits equal the engine's, chat-templated generation, one-line errors.
import { describe, expect, it, beforeAll, afterAll, vi } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { run as makeModel } from '../../src/cli/commands/make-model.ts';
import { run as logits } from '../../src/cli/commands/logits.ts';
import { run as generateCmd } from '../../src/cli/commands/generate.ts';
import { loadModelFromDir } from '../../src/engine/node-folder.ts';
import { singleSequence } from '../../src/engine/model.ts';
import { readNpy } from '../../src/engine/npy.ts';

const root = join(import.meta.dirname, '../..');
let dir: string;

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (chunks.push(String(c)), true));
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await fn(), out: chunks.join('') };
  } finally {
    spy.mockRestore();
    spyErr.mockRestore();
  }
}

describe('CLI model commands', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const r = await capture(() => makeModel(['--preset', 'tiny', '--seed', '0', '--out', join(dir, 'tiny')]));
    expect(r).toEqual({ code: 0, out: `${join(dir, 'tiny')}\n` });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('make-model writes a complete, deterministic Hugging Face folder', () => {
    expect(readdirSync(join(dir, 'tiny')).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const cfg = JSON.parse(readFileSync(join(dir, 'tiny/config.json'), 'utf8'));
    expect(cfg).toMatchObject({ vocab_size: 151936, hidden_size: 64, num_hidden_layers: 2, eos_token_id: 151645, tie_word_embeddings: true });
    const st = readFileSync(join(dir, 'tiny/model.safetensors'));
    expect(st.length).toBeGreaterThan(151936 * 64 * 4); // full-vocabulary F32 embedding, no lm_head (tied)
    expect(st.includes(Buffer.from('lm_head.weight'))).toBe(false);
  });

  it('logits --ids writes the engine logits [T, V] as .npy; --text tokenizes', async () => {
    const out = join(dir, 'l.npy');
    expect(await capture(() => logits(['--model', join(dir, 'tiny'), '--ids', '9707,11,1879', '--out', out]))).toEqual({ code: 0, out: `${out}\n` });
    const npy = readNpy(readFileSync(out));
    expect(npy.shape).toEqual([3, 151936]);
    const model = await loadModelFromDir(join(dir, 'tiny'));
    const x = singleSequence([9707, 11, 1879]);
    const want = tf.tidy(() => model.logits(x).dataSync());
    let diff = 0;
    want.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - npy.data[i]))));
    expect(diff).toBeLessThan(1e-5);
    tf.dispose([x.inputIds, x.positionIds, x.segmentIds]);
    model.dispose();
    await capture(() => logits(['--model', join(dir, 'tiny'), '--text', 'Hello, world', '--out', out]));
    expect(readNpy(readFileSync(out)).shape).toEqual([3, 151936]); // "Hello", ",", " world"
  });

  it('generate prints the greedy continuation (chat template and raw)', async () => {
    const a = await capture(() => generateCmd(['--model', join(dir, 'tiny'), '--prompt', 'Hi', '--max-new-tokens', '3']));
    const b = await capture(() => generateCmd(['--model', join(dir, 'tiny'), '--prompt', 'Hi', '--max-new-tokens', '3']));
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    expect(a.out.endsWith('\n')).toBe(true);
    const raw = await capture(() => generateCmd(['--model', join(dir, 'tiny'), '--prompt', 'Hi', '--max-new-tokens', '3', '--raw']));
    expect(raw.code).toBe(0);
  });

  it('bad arguments and folders: one line on stderr, non-zero exit, nothing on stdout', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8' });
    const r = cli('logits', '--model', join(dir, 'missing'), '--ids', '1', '--out', join(dir, 'x.npy'));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: model folder .*missing: the model folder has no config.json/);
    return Promise.all([
      expect(makeModel(['--preset', 'huge', '--out', dir])).rejects.toThrow(/--preset must be one of: tiny, small, qwen3-0.6b/),
      expect(logits(['--model', dir, '--out', 'x.npy'])).rejects.toThrow(/exactly one of --text or --ids/),
      expect(logits(['--model', join(dir, 'tiny'), '--ids', '151936', '--out', join(dir, 'x.npy')])).rejects.toThrow(/outside the model's vocabulary of 151936/),
      expect(generateCmd(['--model', join(dir, 'tiny')])).rejects.toThrow(/missing required option --prompt/),
    ]);
  });

  it('--backend: a model too big for the wasm heap is refused on wasm before its weights load, and runs on cpu by default', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { toHfConfig, presetConfig } = await import('../../src/engine/config/model-config.ts');
    const big = join(dir, 'qwen3-0.6b-config-only');
    mkdirSync(big, { recursive: true });
    writeFileSync(join(big, 'config.json'), JSON.stringify(toHfConfig(presetConfig('qwen3-0.6b')))); // no weights: they are never read
    const out = join(dir, 'big.npy');
    await expect(logits(['--model', big, '--ids', '1,2,3', '--out', out, '--backend', 'wasm'])).rejects.toThrow(
      /^Running this model \(3 tokens\) needs ~4\.5 GiB of wasm memory .*the wasm heap is 4\.0 GiB .*use WebGPU \(a GPU\), or the cpu backend from the command line \(--backend cpu\)\.$/,
    );
    await expect(generateCmd(['--model', join(dir, 'tiny'), '--prompt', 'Hi', '--backend', 'gpu'])).rejects.toMatchObject({ exitCode: 2, message: '--backend must be one of: wasm, cpu; got "gpu"' });
    // Without --backend the cpu backend takes it (and then finds no weights in this folder).
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
    try {
      await expect(logits(['--model', big, '--ids', '1,2,3', '--out', out])).rejects.toThrow(/safetensors/);
    } finally {
      spy.mockRestore();
      await tf.setBackend('wasm');
    }
    expect(err.join('')).toMatch(/^backend: cpu \(passed over wasm: this needs ~4\.5 GiB, more than the 3\.6 GiB the wasm heap holds safely\)/);
  });

  it('make-model --untied writes a separate lm_head', async () => {
    await capture(() => makeModel(['--preset', 'tiny', '--out', join(dir, 'untied'), '--untied']));
    expect(JSON.parse(readFileSync(join(dir, 'untied/config.json'), 'utf8')).tie_word_embeddings).toBe(false);
    expect(readFileSync(join(dir, 'untied/model.safetensors')).includes(Buffer.from('lm_head.weight'))).toBe(true);
  });
});
