// The generate command as a contract other tools are compared against (llama.cpp in `npm run test:gguf`):
// `generate --raw --temperature 0` prints exactly the continuation's text (no newline, no special tokens) and stops
// at the end of the turn. A copy of the tiny model whose final norm keeps one hidden unit and whose embedding row
// for <|im_end|> (and, opposite, <|endoftext|>) dominates that unit ends its turn on its first token.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as generateCmd } from '../../src/cli/commands/generate.ts';
import { readModelConfig, readTensorStream, saveTensors } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { loadTokenizerFromDir } from '../../src/engine/data/node-io.ts';
import type { HfTensor } from '../../src/engine/model.ts';
import { loadModelFromDir } from '../../src/engine/node-folder.ts';
import { generate } from '../../src/engine/generate.ts';

const tiny = join(import.meta.dirname, '../../public/models/qwen3-tiny');
let dir: string;

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  try {
    return { code: await fn(), out: out.join(''), err: err.join('') };
  } finally {
    spy.mockRestore();
    spyErr.mockRestore();
  }
}

describe('generate --raw (the contract)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gen-contract-'));
    const folder = nodeFolder(tiny);
    const config = await readModelConfig(folder);
    const tensors = new Map<string, HfTensor>();
    for await (const [name, t] of readTensorStream(folder)) tensors.set(name, t);
    const norm = tensors.get('model.norm.weight')!.data;
    norm.fill(0);
    norm[0] = 1; // h = (x0 / rms(x), 0, …, 0)
    const embed = tensors.get('model.embed_tokens.weight')!.data; // tied: also the output projection
    embed[151645 * config.hiddenSize] = 1000; // <|im_end|> wins when x0 > 0 …
    embed[151643 * config.hiddenSize] = -1000; // … <|endoftext|> when x0 < 0: either ends the turn
    await saveTensors(config, tensors, nodeFolder(join(dir, 'ends')), {
      tokenizerJson: (await folder.read('tokenizer.json'))!,
      tokenizerConfigJson: (await folder.read('tokenizer_config.json'))!,
    });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints exactly the engine\'s greedy continuation of the raw prompt: no newline, no special tokens', async () => {
    const prompt = '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
    const raw = await capture(() => generateCmd(['--model', tiny, '--prompt', prompt, '--raw', '--max-new-tokens', '4', '--temperature', '0', '--backend', 'cpu']));
    expect(raw.code).toBe(0);
    expect(raw.err).toMatch(/generate: 4 tokens in \d+ ms, stop: max_tokens/);
    const tok = await loadTokenizerFromDir(tiny);
    const model = await loadModelFromDir(tiny);
    const want = await generate(model, tok.encode(prompt), { maxNewTokens: 4, temperature: 0, eosTokenIds: [151645, 151643], decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }) });
    model.dispose();
    expect(want.text.length).toBeGreaterThan(0);
    expect(raw.out).toBe(want.text);
  });

  it('stops at the end of the turn: nothing printed when the first token ends it', async () => {
    const r = await capture(() => generateCmd(['--model', join(dir, 'ends'), '--prompt', 'Hello there', '--raw', '--max-new-tokens', '8', '--temperature', '0', '--backend', 'cpu']));
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(r.err).toMatch(/generate: 0 tokens in \d+ ms, stop: eos/);
  });
});
