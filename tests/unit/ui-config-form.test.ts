// The config editor's field checks, driven by the engine's real schema metadata (TRAIN_CONFIG_FIELDS).
import { describe, expect, it } from 'vitest';
import { TRAIN_CONFIG_FIELDS } from '../../src/engine/config/train-config.ts';
import { allowedRange, checkFieldInput, displayValue, lockReason } from '../../src/ui/lib/config-form.ts';
import { partitionFiles, isDataFileName } from '../../src/ui/lib/dropped-files.ts';

const field = (key: string) => {
  const m = TRAIN_CONFIG_FIELDS.find((f) => f.key === key);
  if (!m) throw new Error(`no field ${key}`);
  return m;
};

describe('config form', () => {
  it('accepts in-range values and converts types', () => {
    expect(checkFieldInput(field('batchSize'), ' 16 ')).toEqual({ ok: true, value: 16 });
    expect(checkFieldInput(field('learningRate'), '2e-4')).toEqual({ ok: true, value: 2e-4 });
    expect(checkFieldInput(field('pack'), true)).toEqual({ ok: true, value: true });
    expect(checkFieldInput(field('schedule'), 'cosine')).toEqual({ ok: true, value: 'cosine' });
    expect(checkFieldInput(field('lora.targetModules'), 'q_proj, v_proj, q_proj')).toEqual({ ok: true, value: ['q_proj', 'v_proj'] });
  });
  it('rejects with a message naming the field and the allowed range', () => {
    const r = checkFieldInput(field('batchSize'), '0');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toBe('batchSize must be an integer in [1, 128], got "0"');
    expect(checkFieldInput(field('batchSize'), '2.5').ok).toBe(false);
    expect(checkFieldInput(field('learningRate'), 'fast').ok).toBe(false);
    expect(checkFieldInput(field('schedule'), 'step')).toMatchObject({ ok: false, message: expect.stringContaining('one of constant, linear, cosine') });
    expect(checkFieldInput(field('lora.targetModules'), 'q_proj, attn').ok).toBe(false);
    expect(allowedRange(field('learningRate'))).toBe('a number in [0.000001, 0.01]');
  });
  it('locks model-defining fields once the model is trained, and says why', () => {
    expect(lockReason(field('maxContext'), { name: 'tiny', trained: true })).toMatch(/locked: tiny has been trained/);
    expect(lockReason(field('maxContext'), { name: 'tiny', trained: false })).toBeUndefined();
    expect(lockReason(field('batchSize'), { name: 'tiny', trained: true })).toBeUndefined();
    expect(displayValue(['a', 'b'])).toBe('a, b');
  });
});

describe('dropped files', () => {
  it('keeps .jsonl/.json and lists the rest as ignored', () => {
    const f = (name: string) => new File(['x'], name);
    const r = partitionFiles([f('a.jsonl'), f('b.JSON'), f('notes.txt'), f('c.jsonl.bak')]);
    expect(r.files.map((x) => x.name)).toEqual(['a.jsonl', 'b.JSON']);
    expect(r.ignored).toEqual(['notes.txt', 'c.jsonl.bak']);
    expect(isDataFileName('x.jsonl')).toBe(true);
  });
});

import { backendFromSearch } from '../../src/ui/lib/backend-param.ts';
describe('backend override from the URL', () => {
  it('reads a valid backend and reports an invalid one with the options', () => {
    expect(backendFromSearch('?backend=webgpu')).toEqual({ backend: 'webgpu' });
    expect(backendFromSearch('?x=1&backend=WASM')).toEqual({ backend: 'wasm' });
    expect(backendFromSearch('')).toEqual({});
    expect(backendFromSearch('?backend=cuda').error).toBe('?backend=cuda is not a backend; expected one of: webgpu, webgl, wasm, cpu');
  });
});

import { stripTopFolder } from '../../src/ui/lib/dropped-files.ts';
describe('model folder paths', () => {
  it('drops the picked folder name and keeps sub-folders', () => {
    expect(stripTopFolder('Qwen3-0.6B/config.json')).toBe('config.json');
    expect(stripTopFolder('Qwen3-0.6B/sub/model-00001.safetensors')).toBe('sub/model-00001.safetensors');
    expect(stripTopFolder('config.json')).toBe('config.json');
  });
});
