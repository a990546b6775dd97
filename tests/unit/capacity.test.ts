// The capacity rule (src/engine/capacity.ts) on the sizes measured in bench/wasm-capacity.ts, the daemon's
// preflight (src/daemon/preflight.ts) and the device-memory table, from configs alone (no weights load).
import { describe, expect, it } from 'vitest';
import { WASM_HEAP_BYTES, WASM_USABLE_BYTES, capacityNeed, checkCapacity } from '../../src/engine/capacity.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { defaultTrainConfig, matchPreset, parseTrainConfig, presetForModel } from '../../src/engine/config/train-config.ts';
import { presetFor } from '../../src/daemon/config.ts';
import { deviceMemory, deviceMemoryFromAdapter, preflight } from '../../src/daemon/preflight.ts';

const GiB = 1024 ** 3;
const q06 = presetConfig('qwen3-0.6b');
const layers = (n: number) => ({ ...q06, numHiddenLayers: n });
const inference = { kind: 'inference', tokens: 8 } as const;

describe('wasm capacity rule', () => {
  it('refuses every size measured wrong on wasm and allows a size measured right, with margin', () => {
    // bench/wasm-capacity.ts: 0.6B width, 8 tokens: 20–23 layers correct, 24 and 28 layers wrong logits.
    expect(checkCapacity(layers(20), inference, 'wasm').ok).toBe(true);
    for (const n of [24, 28]) expect(checkCapacity(layers(n), inference, 'wasm').ok).toBe(false);
    // The threshold sits below the smallest size seen to break, by more than allocator slack.
    expect(capacityNeed(layers(24), inference, 'wasm').totalBytes - WASM_USABLE_BYTES).toBeGreaterThan(0.3 * GiB);
    expect(WASM_USABLE_BYTES).toBeLessThan(WASM_HEAP_BYTES);
  });

  it('names the need, the limit and what to use instead; cpu and a big enough device accept', () => {
    const v = checkCapacity(q06, inference, 'wasm');
    expect(v.message).toMatch(/needs ~4\.5 GiB of wasm memory .*packed copy.*wasm heap is 4\.0 GiB.*use WebGPU \(a GPU\), or the cpu backend from the command line \(--backend cpu\)/);
    expect(checkCapacity(q06, inference, 'cpu').ok).toBe(true);
    expect(checkCapacity(q06, inference, 'cpu', { deviceBytes: 64 * GiB }).ok).toBe(true);
    expect(checkCapacity(q06, inference, 'cpu', { deviceBytes: 2 * GiB }).message).toMatch(/on the cpu backend but the device has 2\.0 GiB/);
  });

  it('counts packed copies only on wasm, training state only when training, a KV cache when generating long', () => {
    expect(capacityNeed(q06, inference, 'cpu').packedBytes).toBe(0);
    expect(capacityNeed(q06, inference, 'wasm').packedBytes).toBeGreaterThan(2 * GiB);
    const train = { kind: 'training', train: defaultTrainConfig('tiny') } as const;
    const tiny = presetConfig('tiny');
    expect(capacityNeed(tiny, train, 'wasm').trainingStateBytes).toBeGreaterThan(0);
    expect(checkCapacity(tiny, train, 'wasm').ok).toBe(true);
    const long = capacityNeed(q06, { kind: 'inference', tokens: 8, cacheTokens: 32768 }, 'cpu');
    expect(long.totalBytes - capacityNeed(q06, inference, 'cpu').totalBytes).toBeGreaterThan(3 * GiB); // 28·2·8·128·4 B a token
  });
});

describe('preset by shape', () => {
  it('a model gets its preset by shape whatever it is called, the nearest by width otherwise', () => {
    expect(matchPreset(q06)).toBe('qwen3-0.6b');
    const grown = { ...q06, vocabSize: 151_700 }; // added tokens do not change the preset
    expect(matchPreset(grown)).toBe('qwen3-0.6b');
    expect(matchPreset(layers(12))).toBeUndefined();
    expect(presetForModel(layers(12))).toBe('qwen3-0.6b');
    expect(presetForModel(presetConfig('tiny'))).toBe('tiny');
    expect(presetForModel({ ...presetConfig('small'), numHiddenLayers: 7 })).toBe('small');
    expect(presetFor({ config: q06 })).toBe('qwen3-0.6b');
    expect(parseTrainConfig({}, presetFor({ config: q06 })).gradientCheckpointing).toBe(true);
  });
});

describe('preflight', () => {
  const cfg06 = defaultTrainConfig('qwen3-0.6b');

  it('refuses Qwen3-0.6B on wasm whatever the config, saying to use a GPU or the CLI cpu backend', () => {
    const r = preflight({ model: q06, train: { ...cfg06, lora: { ...cfg06.lora, enabled: true } }, backend: { name: 'wasm' } });
    expect(r.ok).toBe(false);
    expect(r.limitLabel).toBe('wasm heap');
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^Training needs ~\d+(\.\d)? GiB of wasm memory .*no setting fits .*GPU \(WebGPU backend\).*--backend cpu/);
  });

  it('on wasm, refuses the training runs measured to outgrow the heap and allows those measured to fit', () => {
    // bench/wasm-capacity.ts --train, 0.6B width, 2 layers, vocabulary 8192: LoRA at 1024 tokens held more live tensor
    // bytes (4.21 GB) than the heap could grow to (4.10 GB), i.e. some allocation failed silently; 512 tokens: heap 2.2 GB.
    const m = { ...q06, numHiddenLayers: 2, vocabSize: 8192 };
    const lora = (maxLength: number) => ({ ...cfg06, maxLength, gradientCheckpointing: false, lora: { ...cfg06.lora, enabled: true } });
    expect(preflight({ model: m, train: lora(1024), backend: { name: 'wasm' } }).ok).toBe(false);
    expect(preflight({ model: m, train: lora(512), backend: { name: 'wasm' } }).ok).toBe(true);
    expect(preflight({ model: m, train: { ...lora(512), lora: cfg06.lora }, backend: { name: 'wasm' } }).ok).toBe(true); // full: heap 2.5 GB
  });

  it('on wasm, proposes the changes that fit when some do', () => {
    const model = { ...q06, numHiddenLayers: 6, vocabSize: 8192 }; // full fine-tuning does not fit the heap, LoRA does
    const short = { ...cfg06, maxLength: 128, gradientCheckpointing: false };
    const r = preflight({ model, train: short, backend: { name: 'wasm' } });
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/: turn on gradient checkpointing \(then ~\d\.\d GiB\), or train with LoRA \(lora\.enabled\) \(then ~\d\.\d GiB\).*, or train on a GPU \(WebGPU\)\.$/);
    expect(preflight({ model, train: { ...short, lora: { ...short.lora, enabled: true } }, backend: { name: 'wasm' } })).toMatchObject({ ok: true, problems: [] });
    // No single change is enough at 1024 tokens: the combination that fits is proposed.
    const long = preflight({ model, train: { ...short, maxLength: 1024 }, backend: { name: 'wasm' } });
    expect(long.problems[0]).toMatch(/: train with LoRA and gradient checkpointing, batch size 1, max length 512 \(then ~\d\.\d GiB\)/);
  });

  it('on a GPU: the 0.6B preset fits 24 GiB, without checkpointing it does not and says to turn it on', () => {
    const gpu = { name: 'webgpu (NVIDIA GeForce RTX 4090)', maxStorageBufferBindingSize: GiB, maxBufferSize: GiB }; // as the daemon state names it
    expect(preflight({ model: q06, train: cfg06, backend: gpu, deviceBytes: 24 * GiB })).toMatchObject({ ok: true, problems: [], notes: [] });
    const off = preflight({ model: q06, train: { ...cfg06, gradientCheckpointing: false }, backend: gpu, deviceBytes: 24 * GiB });
    expect(off.ok).toBe(false);
    expect(off.problems[0]).toMatch(/^Training needs ~\d+ GiB but the device has 24 GiB: turn on gradient checkpointing \(then ~2\d GiB\)/);
  });

  it('names a tensor over the adapter binding limit and the max length that fits; unknown device memory is a note', () => {
    const r = preflight({ model: q06, train: { ...cfg06, batchSize: 8, maxLength: 4096 }, backend: { name: 'webgpu', maxStorageBufferBindingSize: GiB } });
    expect(r.ok).toBe(false);
    expect(r.problems.join(' ')).toMatch(/attention scores, batch 8 × 16 heads × 4096² tokens\): lower max length to 1024/);
    expect(r.notes[0]).toMatch(/device's memory is unknown.*memory panel/);
  });
});

describe('device memory', () => {
  it('prefills known adapters, asks for the rest, and the setting wins', () => {
    expect(deviceMemoryFromAdapter({ vendor: 'nvidia', description: 'NVIDIA GeForce RTX 4090' }).bytes).toBe(24 * GiB);
    expect(deviceMemoryFromAdapter({ vendor: 'nvidia', description: 'NVIDIA GeForce RTX 3090' }).bytes).toBe(24 * GiB);
    expect(deviceMemoryFromAdapter({ vendor: 'nvidia', description: 'NVIDIA GeForce RTX 4080 SUPER' }).bytes).toBe(16 * GiB);
    expect(deviceMemoryFromAdapter({ description: 'NVIDIA A100-SXM4-80GB' }).bytes).toBe(80 * GiB);
    expect(deviceMemoryFromAdapter({ description: 'NVIDIA A100-PCIE-40GB' }).bytes).toBe(40 * GiB);
    expect(deviceMemoryFromAdapter({ description: 'NVIDIA H100 80GB HBM3' }).bytes).toBe(80 * GiB);
    expect(deviceMemoryFromAdapter({ description: 'NVIDIA H200' }).bytes).toBe(141 * GiB);
    expect(deviceMemoryFromAdapter({ vendor: 'apple', architecture: 'metal-3' }).bytes).toBeUndefined();
    expect(deviceMemoryFromAdapter({ vendor: 'nvidia', architecture: 'ada' }).bytes).toBeUndefined(); // which Ada card?
    expect(deviceMemoryFromAdapter({ vendor: 'google', description: 'SwiftShader', isFallbackAdapter: true }).bytes).toBeUndefined();
    expect(deviceMemory(12 * GiB, { description: 'NVIDIA GeForce RTX 4090' })).toMatchObject({ bytes: 12 * GiB, source: 'setting' });
    expect(deviceMemory(null, { description: 'NVIDIA GeForce RTX 4090' })).toMatchObject({ bytes: 24 * GiB, source: 'table' });
    expect(deviceMemory(undefined, null)).toEqual({ label: "no WebGPU adapter", source: "unknown" });
  });
});
