// LoRA through the model's linearHook: training moves only the adapters, merged logits equal the unmerged
// ones, and the PEFT export has PEFT names in HF layout and loads back.
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { Qwen3Model, singleSequence } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { parseTrainConfig } from '../../src/engine/config/train-config.ts';
import { LoraAdapter } from '../../src/engine/lora.ts';
import { runJob } from '../../src/engine/train.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { ModelConfig, TokenizedExample } from '../../src/engine/types.ts';

const V = 512;
const modelConfig: ModelConfig = { ...presetConfig('tiny'), vocabSize: V };
const rng = new Rng(3);
const examples: TokenizedExample[] = Array.from({ length: 4 }, () => ({
  ids: Int32Array.from({ length: 10 }, () => rng.int(1, V - 1)),
  trainMask: Uint8Array.from({ length: 10 }, (_, t) => (t >= 3 ? 1 : 0)),
}));
const config = parseTrainConfig(
  { batchSize: 4, maxLength: 16, learningRate: 1e-2, warmupSteps: 0, lmHeadChunkTokens: 16, saveSteps: 0, evalSteps: 0,
    lora: { enabled: true, rank: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'v_proj', 'down_proj'] } },
  'tiny',
);

describe('LoRA', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('trains only the adapters; merged = unmerged logits; PEFT export round-trips', async () => {
    const model = Qwen3Model.random(modelConfig, 1);
    const base = new Map([...model.weights].map(([k, v]) => [k, v.dataSync().slice()]));
    const losses: number[] = [];
    const r = await runJob({ model, source: { size: 4, get: (i) => examples[i] }, config, padTokenId: 0, steps: 15 }, { onLog: (m) => void losses.push(m.loss) });
    const lora = r.lora!;
    expect(losses.at(-1)!).toBeLessThan(losses[0] - 0.5);
    for (const [k, v] of model.weights) expect(v.dataSync()).toEqual(base.get(k));
    expect(lora.targets).toHaveLength(2 * 3);

    const peft = await lora.toPeftTensors();
    const a = peft.find((t) => t.name === 'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight')!;
    const b = peft.find((t) => t.name === 'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')!;
    expect(a.shape).toEqual([4, 64]); // [r, in]
    expect(b.shape).toEqual([64, 4]); // [out, r]
    expect(Math.max(...b.data.map(Math.abs))).toBeGreaterThan(0);
    expect(lora.peftConfig('qwen3-tiny')).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] });

    // a fresh adapter loaded from the export gives the same outputs
    const copy = new LoraAdapter(model, config.lora, 99);
    copy.loadPeftTensors(peft);
    const x = singleSequence([5, 9, 100, 7, 300, 2]);
    const unmerged = model.logits(x, { linearHook: lora.hook() });
    const fromCopy = model.logits(x, { linearHook: copy.hook() });
    const plain = model.logits(x);
    lora.merge();
    const merged = model.logits(x);
    const maxDiff = (p: tf.Tensor, q: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(p, q))).dataSync()[0]);
    expect(maxDiff(unmerged, plain)).toBeGreaterThan(1e-3); // the adapter does something
    expect(maxDiff(unmerged, merged)).toBeLessThan(1e-4);
    expect(maxDiff(unmerged, fromCopy)).toBeLessThan(1e-6);
    expect(() => lora.hook()).toThrow(/merged/);
    tf.dispose([unmerged, fromCopy, plain, merged, x.inputIds, x.positionIds, x.segmentIds]);
    copy.dispose();
    lora.dispose();
    r.optimizer.dispose();
    model.dispose();
  });
});

/** Multiply-add FLOPs of every matMul kernel a function runs (C = A·B: 2·|C|·K, K from the operand sizes). */
async function matmulFlops(f: () => Promise<unknown>): Promise<number> {
  const info = await tf.profile(async () => void (await f()));
  let flops = 0;
  for (const k of info.kernels) {
    if (!/MatMul/.test(k.name)) continue;
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const [a, b] = k.inputShapes as number[][];
    const c = k.outputShapes[0] as number[];
    const batchB = size(b.slice(0, -2));
    flops += 2 * size(c) * Math.round(Math.sqrt((size(a) * size(b)) / size(c) / batchB));
  }
  return flops;
}

describe('LoRA costs LoRA', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  // Full fine-tuning: forward, input gradients, weight gradients (3 units; 4 with gradient checkpointing's recompute).
  // LoRA: no weight gradient for the frozen base and head, so 2/3 (3/4 with checkpointing), plus the small adapters.
  it('a LoRA step computes no gradient for the frozen base weights and head: 2/3 of a full step\'s matmul FLOPs (3/4 with checkpointing)', async () => {
    const source = { size: 4, get: (i: number) => examples[i] };
    const step = async (lora: boolean, gradientCheckpointing: boolean) => {
      const model = Qwen3Model.random(modelConfig, 1);
      const cfg = parseTrainConfig({ ...config, lora: { ...config.lora, enabled: lora, dropout: 0, targetModules: ['q_proj', 'v_proj'] }, gradientCheckpointing }, 'tiny');
      let opt: { dispose(): void } | undefined;
      const flops = await matmulFlops(async () => {
        const r = await runJob({ model, source, config: cfg, padTokenId: 0, steps: 1 });
        opt = r.optimizer;
        r.lora?.dispose();
      });
      opt?.dispose();
      model.dispose();
      return flops;
    };
    for (const [checkpointing, expected] of [[false, 2 / 3], [true, 3 / 4]] as const) {
      const full = await step(false, checkpointing);
      const lora = await step(true, checkpointing);
      expect(lora / full, `gradientCheckpointing ${checkpointing}: LoRA ${lora} vs full ${full} FLOPs`).toBeCloseTo(expected, 1);
      expect(lora / full).toBeLessThan(expected + 0.03);
    }
  });
});
