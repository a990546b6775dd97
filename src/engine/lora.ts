/**
 * LoRA (Hu et al. 2021, arXiv:2106.09685): y = x·W + (α/r)·dropout(x)·A·B on chosen linear layers, applied
 * through the model's `linearHook`; merged into the base weights on demand; exported as a PEFT adapter
 * (adapter_config.json + adapter_model.safetensors, HF layout A [r, in], B [out, r]).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM, LinearHook } from './types.ts';
import type { LoraConfig } from './config/train-config.ts';
import type { NamedArray } from './optimizer.ts';
import { Rng } from './rng.ts';
import { dot } from './model-ops.ts';
import { CheckpointError } from './errors.ts';

/** `model.layers.3.self_attn.q_proj.weight` → `q_proj`. */
const moduleOf = (weightName: string) => weightName.split('.').slice(-2, -1)[0];
/** Base weight name → PEFT tensor name of its A or B matrix. */
export const peftName = (weightName: string, ab: 'A' | 'B') =>
  `base_model.model.${weightName.replace(/\.weight$/, '')}.lora_${ab}.weight`;

export class LoraAdapter {
  /** Trainable adapter tensors keyed `{baseName}/lora_A` ([in, r]) and `{baseName}/lora_B` ([r, out]): compute layout. */
  readonly weights = new Map<string, tf.Variable>();
  /** Base weight names that carry an adapter. */
  readonly targets: string[];
  readonly scale: number;
  private merged = false;

  /** A ~ U(±1/√in) (PEFT's kaiming-uniform with a = √5), B = 0, deterministic for `seed`. */
  constructor(readonly model: CausalLM, readonly config: LoraConfig, seed: number) {
    this.scale = config.alpha / config.rank;
    this.targets = [...model.weights.keys()].filter(
      (n) => n.startsWith('model.layers.') && n.endsWith('.weight') && (config.targetModules as string[]).includes(moduleOf(n)),
    );
    if (this.targets.length === 0) throw new Error(`LoRA: no linear layer matches targetModules ${config.targetModules.join(', ')}`);
    const rng = new Rng(seed);
    for (const name of this.targets) {
      const [inDim, outDim] = model.weights.get(name)!.shape; // compute layout [in, out]
      const bound = 1 / Math.sqrt(inDim);
      const a = Float32Array.from({ length: inDim * config.rank }, () => (2 * rng.next() - 1) * bound);
      // In a tidy: a variable shares its initial tensor's data, and the initial tensor itself must go.
      tf.tidy(() => {
        this.weights.set(`${name}/lora_A`, tf.variable(tf.tensor2d(a, [inDim, config.rank]), true, `${name}/lora_A#${uid}`));
        this.weights.set(`${name}/lora_B`, tf.variable(tf.zeros([config.rank, outDim]), true, `${name}/lora_B#${uid}`));
      });
    }
    uid++;
  }

  /**
   * The hook adding the low-rank term. With `dropoutSeed` (training) the adapter input gets inverted
   * dropout from tf's seeded generator, one seed per call derived from it; without, no dropout.
   */
  hook(dropoutSeed?: number): LinearHook {
    if (this.merged) throw new Error('LoRA: the adapter is merged into the base weights; its hook would add it twice');
    const p = this.config.dropout;
    let call = 0;
    return (name, x, base) => {
      const a = this.weights.get(`${name}/lora_A`);
      if (!a) return base;
      const b = this.weights.get(`${name}/lora_B`)!;
      let xi = x;
      if (dropoutSeed !== undefined && p > 0) {
        const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', (dropoutSeed + 7919 * call++) >>> 0), p), 'float32');
        xi = tf.mul(x, tf.mul(keep, 1 / (1 - p)));
      }
      return tf.add(base, tf.mul(dot(dot(xi as tf.Tensor2D, a), b), this.scale)); // dot: wasm-friendly gradient
    };
  }

  /** W ← W + (α/r)·A·B for every target; afterwards the model alone gives the adapted outputs. */
  merge(): void {
    if (this.merged) return;
    for (const name of this.targets) {
      const w = this.model.weights.get(name)!;
      tf.tidy(() => w.assign(tf.add(w, tf.mul(tf.matMul(this.weights.get(`${name}/lora_A`)!, this.weights.get(`${name}/lora_B`)!), this.scale))));
    }
    this.merged = true;
  }

  get isMerged(): boolean {
    return this.merged;
  }

  /** Adapter tensors by PEFT name in HF layout (A [r, in], B [out, r]). */
  async toPeftTensors(): Promise<NamedArray[]> {
    const out: NamedArray[] = [];
    for (const name of this.targets) {
      for (const ab of ['A', 'B'] as const) {
        const t = tf.transpose(this.weights.get(`${name}/lora_${ab}`)!);
        out.push({ name: peftName(name, ab), shape: t.shape.slice(), data: new Float32Array(await t.data()) });
        t.dispose();
      }
    }
    return out;
  }

  /** Loads tensors exported by toPeftTensors (resume); every adapter tensor must be present with its shape. */
  loadPeftTensors(tensors: readonly NamedArray[]): void {
    const byName = new Map(tensors.map((t) => [t.name, t]));
    for (const name of this.targets) {
      for (const ab of ['A', 'B'] as const) {
        const v = this.weights.get(`${name}/lora_${ab}`)!;
        const t = byName.get(peftName(name, ab));
        const want = [v.shape[1], v.shape[0]];
        if (!t) throw new CheckpointError(`LoRA adapter tensor "${peftName(name, ab)}" is missing`, undefined, peftName(name, ab));
        if (t.shape.join(',') !== want.join(',')) {
          throw new CheckpointError(`LoRA adapter tensor "${t.name}" has shape [${t.shape}], expected [${want}]`, undefined, t.name);
        }
        tf.tidy(() => v.assign(tf.transpose(tf.tensor2d(t.data, want as [number, number]))));
      }
    }
  }

  /** PEFT's adapter_config.json for this adapter. */
  peftConfig(baseModel: string): Record<string, unknown> {
    return peftConfig(this.config, baseModel);
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
  }
}

let uid = 0;

/** PEFT's adapter_config.json for an adapter of these settings on `baseModel`. */
export function peftConfig(lora: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: [...lora.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    use_rslora: false,
    use_dora: false,
  };
}
