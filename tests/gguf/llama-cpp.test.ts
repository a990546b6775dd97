// The proof that an exported GGUF file is the model: the tiny model is trained for 30 steps (train command, wasm),
// exported as F32, F16 and Q8_0 (export-gguf command), loaded by llama.cpp (node-llama-cpp 3.21.1, CPU), and for
// chat prompts rendered with the model's chat template:
// - llama.cpp tokenizes the prompt into the engine's token ids (vocabulary, merges, pre-tokenizer, special tokens);
// - F32 and F16: llama.cpp's greedy continuation is the engine's, token for token, ending at the same <|im_end|>;
// - Q8_0 is close: its greedy continuation agrees with the engine's for the first Q8_FIRST_TOKENS tokens (or all,
//   when shorter), and its probabilities are within the tolerance below;
// - every type: teacher-forced along the engine's continuation, llama.cpp's probability of each of the engine's
//   tokens is within PROB_TOLERANCE[type] of the engine's (F32 1e-3, F16 1e-2, Q8_0 5e-2);
// - the generate command's `--raw --temperature 0` output is llama.cpp's F32 continuation as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { loadModelFromDir } from '../../src/engine/node-folder.ts';
import { loadTokenizerFromDir } from '../../src/engine/data/node-io.ts';
import { generate } from '../../src/engine/generate.ts';
import { singleSequence, type Qwen3Model } from '../../src/engine/model.ts';
import type { ChatTokenizer } from '../../src/engine/types.ts';

const root = join(import.meta.dirname, '../..');
const runner = join(import.meta.dirname, 'runner/node_modules/node-llama-cpp/dist/index.js');
/** The part of node-llama-cpp's API this test uses (typed here: the runner may not be installed when types are checked). */
interface LlamaCpp {
  getLlama(o: { gpu: false; build: 'never'; logLevel: 'error' }): Promise<{ loadModel(o: { modelPath: string }): Promise<LlamaModel>; dispose(): Promise<void> }>;
}
interface LlamaModel {
  fileInfo: { metadata: { general: { architecture: string } } };
  tokenize(text: string, specialTokens: boolean): number[];
  detokenize(ids: number[]): string;
  isEogToken(t: number): boolean;
  createContext(o: object): Promise<{ getSequence(): LlamaSequence; dispose(): Promise<void> }>;
  dispose(): Promise<void>;
}
interface LlamaSequence {
  nextTokenIndex: number;
  eraseContextTokenRanges(r: { start: number; end: number }[]): Promise<void>;
  evaluate(tokens: number[], o: object): AsyncGenerator<number>;
  controlledEvaluate(input: (number | [number, object])[]): Promise<(undefined | { next: { token?: number | null; probabilities?: Map<number, number> } })[]>;
}
const TYPES = ['f32', 'f16', 'q8_0'] as const;
const PROB_TOLERANCE = { f32: 1e-3, f16: 1e-2, q8_0: 5e-2 };
const Q8_FIRST_TOKENS = 4;
const MAX_NEW = 24;
const TRAIN = [
  ['What is the capital of France?', 'The capital of France is Paris.'],
  ['Name a primary color.', 'Red is a primary color.'],
  ['How many legs does a spider have?', 'A spider has eight legs.'],
  ['What do bees make?', 'Bees make honey.'],
];
/** Two trained questions (they end their turn) and one the model never saw. */
const PROMPTS = [TRAIN[0][0], TRAIN[3][0], 'Tell me about spiders and bees.'];

let dir: string;
let model: Qwen3Model;
let tokenizer: ChatTokenizer;
/** Per prompt: the rendered chat text, its engine token ids and the engine's greedy continuation (without the stop token). */
const engine: { text: string; prompt: number[]; ids: number[]; stop: number | null }[] = [];

/** A CLI command in a child process (asynchronously: a long training run must not block this worker); its stdout. */
function cli(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`cli ${args[0]} exited ${code}: ${err}`))));
  });
}

/** The engine's next-token probabilities at each position of `ids` from `from` on. */
function engineProbs(ids: number[], from: number): Float32Array[] {
  const x = singleSequence(ids);
  const V = model.config.vocabSize;
  const probs = tf.tidy(() => tf.softmax(tf.slice(tf.squeeze(model.logits(x), [0]), [from, 0], [ids.length - from, -1])).dataSync() as Float32Array);
  tf.dispose([x.inputIds, x.positionIds, x.segmentIds]);
  return Array.from({ length: ids.length - from }, (_, i) => probs.subarray(i * V, (i + 1) * V));
}

describe('llama.cpp runs the exported GGUF files', () => {
  beforeAll(async () => {
    if (!existsSync(runner)) throw new Error('node-llama-cpp is not installed in tests/gguf/runner: run `npm run test:gguf`, which installs it');
    // GGUF_TEST_DIR: a folder kept between runs (the trained model and its exports are reused when present)
    dir = process.env.GGUF_TEST_DIR ?? mkdtempSync(join(tmpdir(), 'gguf-llama-'));
    if (!existsSync(join(dir, 'trained-q8_0.gguf'))) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'train.jsonl'), TRAIN.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] })).join('\n') + '\n');
      await cli('train', '--model', join(root, 'public/models/qwen3-tiny'), '--data', join(dir, 'train.jsonl'), '--out', join(dir, 'trained'),
        '--steps', '30', '--lr', '0.01', '--warmup', '2', '--batch-size', '4', '--log-every', '10', '--backend', 'wasm');
      for (const t of TYPES) await cli('export-gguf', '--model', join(dir, 'trained'), '--out', join(dir, `trained-${t}.gguf`), '--type', t);
    }
    // the engine's reference on the cpu backend (plain float32 JS): its probabilities agree with llama.cpp's F32 to
    // about 1e-5; the wasm backend's differ from both by about 1e-3 on this model
    await initNodeBackend(['cpu']);
    model = await loadModelFromDir(join(dir, 'trained'));
    tokenizer = await loadTokenizerFromDir(join(dir, 'trained'));
    for (const q of PROMPTS) {
      const text = tokenizer.renderChat([{ role: 'user', content: q }], { template: 'stock', addGenerationPrompt: true, enableThinking: false });
      const prompt = tokenizer.encode(text);
      let stop: number | null = null;
      const eos = [tokenizer.eosTokenId, tokenizer.padTokenId];
      const r = await generate(model, prompt, { maxNewTokens: MAX_NEW, temperature: 0, eosTokenIds: eos, decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }) });
      if (r.stopReason === 'eos') {
        // which stop token: the argmax after the last generated token
        const p = engineProbs([...prompt, ...r.ids], prompt.length + r.ids.length - 1)[0];
        stop = p.reduce((best, v, i) => (v > p[best] ? i : best), 0);
      }
      engine.push({ text, prompt, ids: r.ids, stop });
    }
    // the trained prompts end their turn: the continuation is the trained answer, then <|im_end|>
    expect(engine.slice(0, 2).map((e) => [tokenizer.decode(e.ids, { skipSpecialTokens: true }), e.stop])).toEqual([[TRAIN[0][1], tokenizer.eosTokenId], [TRAIN[3][1], tokenizer.eosTokenId]]);
  });
  afterAll(() => {
    model?.dispose();
    if (dir && !process.env.GGUF_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  for (const type of TYPES) {
    it(`${type}: llama.cpp tokenizes like the engine and continues ${type === 'q8_0' ? 'close to' : 'exactly as'} the engine`, async () => {
      const { getLlama } = (await import(runner)) as LlamaCpp;
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
      const lm = await llama.loadModel({ modelPath: join(dir, `trained-${type}.gguf`) });
      try {
        expect(lm.fileInfo.metadata.general.architecture).toBe('qwen3');
        const report: string[] = [];
        // one thread: ggml's spinning worker threads crawl on a busy machine; an F32 KV cache (llama.cpp's default
        // is F16), so that what is compared is the file's precision, not the cache's
        const ctx = await lm.createContext({ contextSize: 256, sequences: 1, threads: 1, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
        const seq = ctx.getSequence();
        const reset = () => seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
        for (const [k, e] of engine.entries()) {
          expect(lm.tokenize(e.text, true)).toEqual(e.prompt);
          // llama.cpp's own greedy continuation, to its end of generation
          await reset();
          const got: number[] = [];
          for await (const t of seq.evaluate(e.prompt, { temperature: 0, yieldEogToken: true })) {
            got.push(t);
            if (lm.isEogToken(t) || got.length >= MAX_NEW) break;
          }
          const want = [...e.ids, ...(e.stop === null ? [] : [e.stop])];
          if (type === 'q8_0') {
            const n = Math.min(Q8_FIRST_TOKENS, want.length);
            expect(got.slice(0, n), `prompt ${k}`).toEqual(want.slice(0, n));
          } else {
            expect(got, `prompt ${k}`).toEqual(want);
          }
          // teacher-forced along the engine's continuation (and its stop token): llama.cpp's top token at each
          // position, and its probability for the engine's token there against the engine's
          await reset();
          const forced = [...e.prompt, ...want];
          const from = e.prompt.length - 1;
          const input = forced.slice(0, -1).map((t, i): number | [number, object] => (i >= from ? [t, { generateNext: { token: true, probabilities: true } }] : t));
          const out = await seq.controlledEvaluate(input);
          const ref = engineProbs(forced.slice(0, -1), from);
          let worst = 0;
          const tops: number[] = [];
          for (let i = from; i < forced.length - 1; i++) {
            const next = forced[i + 1];
            tops.push(Number(out[i]?.next.token));
            // node-llama-cpp 3.21.1's probabilities sum to slightly more than 1 (1.0024 here): normalized before comparing
            const probs = out[i]?.next.probabilities ?? new Map();
            let sum = 0;
            for (const v of probs.values()) sum += v;
            worst = Math.max(worst, Math.abs((probs.get(next) ?? 0) / sum - ref[i - from][next]));
          }
          if (type !== 'q8_0') expect(tops, `prompt ${k}`).toEqual(want);
          report.push(`prompt ${k}: ${want.length} tokens, llama greedy ${got.length}, max |Δp| ${worst.toExponential(2)}`);
          expect(worst, `prompt ${k}`).toBeLessThanOrEqual(PROB_TOLERANCE[type]);
        }
        await ctx.dispose();
        process.stderr.write(`gguf ${type}: ${report.join('; ')}\n`);
        if (type === 'f32') {
          // the generate command's contract: only the continuation's text, ending at the end of the turn
          for (const e of engine.slice(0, 2)) {
            const out = await cli('generate', '--model', join(dir, 'trained'), '--prompt', e.text, '--raw', '--max-new-tokens', String(MAX_NEW), '--temperature', '0');
            expect(out).toBe(lm.detokenize(e.ids));
          }
        }
      } finally {
        await lm.dispose();
        await llama.dispose();
      }
    });
  }
});
