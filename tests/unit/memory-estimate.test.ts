import { describe, expect, it } from 'vitest';
import { countParameters, estimateTrainingMemory, judgeMemory } from '../../src/engine/memory-estimate.ts';
import type { ModelConfig } from '../../src/engine/types.ts';

const qwen3_06b: ModelConfig = {
  modelType: 'qwen3',
  vocabSize: 151936,
  hiddenSize: 1024,
  intermediateSize: 3072,
  numHiddenLayers: 28,
  numAttentionHeads: 16,
  numKeyValueHeads: 8,
  headDim: 128,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 40960,
  torchDtype: 'bfloat16',
};
const GiB = 1024 ** 3;

describe('memory estimate', () => {
  it('counts Qwen3-0.6B parameters as published (596M with tied embeddings)', () => {
    expect(countParameters(qwen3_06b)).toBe(596_049_920);
  });

  it('fits a 24 GB card with batch 1 x 1024 (checkpointing) and flags 4096 tokens with advice', () => {
    const ok = { batchSize: 1, maxLength: 1024, gradientCheckpointing: true };
    expect(judgeMemory(estimateTrainingMemory(qwen3_06b, ok), ok, { deviceBytes: 24 * GiB }).fits).toBe(true);
    const big = { batchSize: 1, maxLength: 4096, gradientCheckpointing: true };
    const verdict = judgeMemory(estimateTrainingMemory(qwen3_06b, big), big, { deviceBytes: 24 * GiB });
    expect(verdict.fits).toBe(false);
    expect(verdict.advice[0]).toMatch(/max length \(now 4096\)/);
    expect(verdict.advice[0]).toMatch(/LoRA/);
  });

  it('LoRA shrinks gradients and optimizer state to the adapters', () => {
    const lora = { enabled: true, rank: 8, targetModules: ['q_proj', 'v_proj'] };
    const e = estimateTrainingMemory(qwen3_06b, { batchSize: 1, maxLength: 512, lora });
    expect(e.trainableParameters).toBe(28 * 8 * (1024 + 2048 + 1024 + 1024));
    expect(e.optimizerBytes).toBe(2 * 4 * e.trainableParameters);
  });

  it('flags a tensor larger than one WebGPU buffer binding', () => {
    const t = { batchSize: 8, maxLength: 4096 };
    const v = judgeMemory(estimateTrainingMemory(qwen3_06b, t), t, { maxStorageBufferBindingSize: GiB });
    expect(v.fits).toBe(false);
    expect(v.advice.join(' ')).toMatch(/buffer binding/);
  });
});

describe('memory estimate with gradient checkpointing', () => {
  it('the qwen3-0.6b preset defaults (batch 1 x 2048, checkpointing) fit a 24 GB card; without it they do not', async () => {
    const { defaultTrainConfig } = await import('../../src/engine/config/train-config.ts');
    const cfg = defaultTrainConfig('qwen3-0.6b');
    expect(cfg.gradientCheckpointing).toBe(true);
    const limits = { deviceBytes: 24 * GiB, maxStorageBufferBindingSize: GiB };
    expect(judgeMemory(estimateTrainingMemory(qwen3_06b, cfg), cfg, limits)).toEqual({ fits: true, advice: [] });
    const off = { ...cfg, gradientCheckpointing: false };
    const verdict = judgeMemory(estimateTrainingMemory(qwen3_06b, off), off, limits);
    expect(verdict.fits).toBe(false);
    expect(verdict.advice[0]).toMatch(/gradient checkpointing/);
  });
});
