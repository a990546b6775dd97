// The inference node's engine refuses, before any weight loads, a model the wasm heap cannot hold (Qwen3-0.6B's
// config.json alone is enough to tell), and a request whose prompt and answer would not fit; INFERENCE_BACKEND is checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHfConfig, presetConfig } from '../../src/engine/config/model-config.ts';
import { backendPreference, engineInference, ensureNodeBackend } from '../../server/engine-adapter.ts';
import { HttpError } from '../../server/http.ts';
import { makeTinyModelFolder, tempDir } from './server-fixture.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir('server-capacity-');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inference node capacity', () => {
  it('refuses a Qwen3-0.6B folder on wasm from its config, naming the limit and INFERENCE_BACKEND=cpu', async () => {
    expect(await ensureNodeBackend()).toBe('wasm');
    const big = join(dir, 'qwen3-0.6b');
    rmSync(big, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(big);
    writeFileSync(join(big, 'config.json'), JSON.stringify(toHfConfig(presetConfig('qwen3-0.6b')))); // no weights: refused before they are read
    await expect(engineInference.validateFolder(big)).rejects.toThrow(/^Serving this model needs ~4\.\d GiB of wasm memory .*wasm heap is 4\.0 GiB.*INFERENCE_BACKEND=cpu/);
  });

  it('answers a small request and refuses one too long for the heap, with HTTP 400', async () => {
    const m = await engineInference.load(await makeTinyModelFolder(join(dir, 'tiny')));
    try {
      const opts = { temperature: 0, topP: 1, stop: [], timeLimitMs: 10_000 };
      expect((await m.generate('Hi', { ...opts, maxTokens: 2 })).completionTokens).toBeGreaterThan(0);
      const err = await m.generate('Hi', { ...opts, maxTokens: 100_000_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HttpError);
      expect((err as HttpError).status).toBe(400);
      expect((err as HttpError).message).toMatch(/wasm memory.*up to 100000\d+ with the answer/);
    } finally {
      m.dispose();
    }
  });

  it('INFERENCE_BACKEND picks wasm or cpu; anything else says which values work', () => {
    expect(backendPreference(undefined)).toEqual(['wasm', 'cpu']);
    expect(backendPreference('cpu')).toEqual(['cpu']);
    expect(() => backendPreference('webgpu')).toThrow('INFERENCE_BACKEND must be one of: wasm, cpu; got "webgpu"');
  });
});
