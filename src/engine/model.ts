/**
 * Qwen3ForCausalLM in TensorFlow.js, read top to bottom like nanoGPT: norm → attention → MLP → block →
 * model. Matches Hugging Face `modeling_qwen3.py` op for op (Qwen3 report, arXiv:2505.09388).
 *
 * COMPUTE LAYOUT (what `weights` holds; Hugging Face layout only at import/export, see toTensors):
 * - every linear `*.weight` is stored [in, out] (HF: [out, in]) so y = x · W needs no transpose;
 * - `model.embed_tokens.weight` is stored [H, V] (HF: [V, H]) so the tied LM head is used as-is:
 *   logits = h · E; the embedding lookup gathers columns. `lm_head.weight` (untied) is [H, V] too;
 * - norm weights [dim] as in HF.
 * Matrix products and the embedding lookup come from model-ops.ts (custom gradients for the wasm backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.ts'; // tfjs-core's gradients, registered in a Node-safe way (E3's module)
import { CheckpointError } from './errors.ts';
import { Rng } from './rng.ts';
import { dot, dotFrozen, embed, swapLast } from './model-ops.ts';
import { rmsNorm } from './kernels/rms-norm.ts';
import { swiglu } from './kernels/swiglu.ts';
import { flashAttention } from './kernels/attention.ts';
import { fusedKernelsActive } from './kernels/switch.ts';
import type { CausalLM, ForwardInputs, LinearHook, ModelConfig } from './types.ts';

/** A tensor in Hugging Face layout (row-major float32), as read from or written to safetensors. */
export interface HfTensor {
  shape: number[];
  data: Float32Array;
}

export interface ForwardOptions {
  /** See LinearHook; here `x` is [N, in] (batch and time flattened) and `base` is [N, out]. */
  linearHook?: LinearHook;
  /**
   * The base weights are not trained (LoRA): the linear layers take them as constants, so backprop computes no
   * weight gradient for them (only the gradient flowing to the input and on to the adapters).
   */
  frozenBase?: boolean;
  /**
   * Gradient checkpointing (Chen et al. 2016): keep only each layer's input for backprop and recompute
   * the layer during the backward pass (~1/3 more compute, far less activation memory). `params` are
   * every variable being differentiated, keyed by name; layer i's are those named `model.layers.{i}.…`
   * (base weights when they train, LoRA's `{weight}/lora_A` ...); others a layer reads are constants there.
   * The hook must be deterministic (no dropout).
   */
  recompute?: { params: ReadonlyMap<string, tf.Variable> };
}

/** New tokens for Qwen3Model.decodeBatch: `batch` rows, row-major. */
export interface DecodeInputs {
  batch: number;
  ids: Int32Array;
  positions: Int32Array;
  segments: Int32Array;
}

/** Per-layer keys and values of the tokens seen so far: k[i], v[i] are [B, nKV, length, hd]. */
export interface KvCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
  length: number;
  /** Segment ids [B, length] of the cached positions (0: left padding of a batch); absent while every one is live. */
  segmentIds?: tf.Tensor2D;
}

export const EMBED = 'model.embed_tokens.weight';
export const LM_HEAD = 'lm_head.weight';
export const FINAL_NORM = 'model.norm.weight';
export { dot, embed } from './model-ops.ts';
const NEG = -1e9; // additive mask; finite so fully masked (padding) rows stay finite

/** Hugging Face names and HF-layout shapes of every parameter of a config, in checkpoint order. */
export function parameterShapes(c: ModelConfig): Map<string, number[]> {
  const H = c.hiddenSize, hd = c.headDim, q = c.numAttentionHeads * hd, kv = c.numKeyValueHeads * hd;
  const m = new Map<string, number[]>([[EMBED, [c.vocabSize, H]]]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(p + 'input_layernorm.weight', [H]);
    m.set(p + 'self_attn.q_proj.weight', [q, H]);
    m.set(p + 'self_attn.k_proj.weight', [kv, H]);
    m.set(p + 'self_attn.v_proj.weight', [kv, H]);
    m.set(p + 'self_attn.q_norm.weight', [hd]);
    m.set(p + 'self_attn.k_norm.weight', [hd]);
    m.set(p + 'self_attn.o_proj.weight', [H, q]);
    m.set(p + 'post_attention_layernorm.weight', [H]);
    m.set(p + 'mlp.gate_proj.weight', [c.intermediateSize, H]);
    m.set(p + 'mlp.up_proj.weight', [c.intermediateSize, H]);
    m.set(p + 'mlp.down_proj.weight', [H, c.intermediateSize]);
  }
  m.set(FINAL_NORM, [H]);
  if (!c.tieWordEmbeddings) m.set(LM_HEAD, [c.vocabSize, H]);
  return m;
}

/** A tensor's shape and length against what the config needs (CheckpointError naming it). */
function checkShape(name: string, t: HfTensor, shape: number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new CheckpointError(`tensor "${name}" has shape [${t.shape}] but the config needs [${shape}]`, undefined, name);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new CheckpointError(`tensor "${name}" holds ${t.data.length} values, not ${n}`, undefined, name);
}

/** Token ids outside [0, vocabSize) would be gathered silently wrong (gather does not check): refuse them. */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token id ${id} at position ${i} is outside the model's vocabulary [0, ${vocabSize}): the tokenizer and the model do not match`);
    }
  }
}

/** How a layer's linears run: the LoRA hook, and whether the base weights are frozen (no weight gradients). */
interface Linears {
  hook?: LinearHook;
  frozen?: boolean;
}

/** True for 2-D weights, which the compute layout stores transposed (linears, embedding, LM head). */
const isMatrix = (shape: number[]) => shape.length === 2;

// ------------------------------------------------------------------ building blocks

// RMSNorm over the last axis (Zhang & Sennrich 2019), x / sqrt(mean(x²) + eps) · w, is `rmsNorm` of kernels/rms-norm.ts:
// fused on webgpu, TF.js's ops elsewhere.

/** rotate_half of HF: [x1, x2] → [-x2, x1] over the last axis. */
function rotateHalf(x: tf.Tensor): tf.Tensor {
  const [x1, x2] = tf.split(x, 2, -1);
  return tf.concat([tf.neg(x2), x1], -1);
}

/**
 * cos and sin of RoPE (Su et al. 2021) for positions [B, T] → each [B, 1, T, hd], float32 like HF. The table is
 * computed on the host for positions [0, positions) and gathered: the GPU's cos/sin are only accurate to ~2e-4
 * (WGSL allows 4.9e-4 within [−π, π] and nothing outside), which moved logits by 2e-4 on webgpu. Every position
 * id must be below `positions` (rows restart at 0 when packed; decoding adds the cache length).
 */
export function rotary(positionIds: tf.Tensor2D, positions: number, headDim: number, theta: number): [tf.Tensor, tf.Tensor] {
  const half = headDim / 2;
  const f = Math.fround; // HF computes inv_freq, the angles and their cos/sin in float32: round every step the same way
  const inv = Array.from({ length: half }, (_, i) => f(1 / f(Math.pow(f(theta), f((2 * i) / headDim)))));
  const cos = new Float32Array(positions * headDim), sin = new Float32Array(positions * headDim);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const a = f(p * inv[i]);
      cos[p * headDim + i] = cos[p * headDim + half + i] = Math.cos(a);
      sin[p * headDim + i] = sin[p * headDim + half + i] = Math.sin(a);
    }
  }
  const at = (table: Float32Array) => tf.expandDims(tf.gather(tf.tensor2d(table, [positions, headDim]), positionIds), 1); // [B, 1, T, hd]
  return [at(cos), at(sin)];
}

/**
 * Additive attention mask [B, 1, Tq, Tk]: query i (absolute index offset + i) attends key j iff j ≤ offset + i
 * and both carry the same non-zero segment id.
 */
export function attentionMask(segQ: tf.Tensor2D, segK: tf.Tensor2D, offset: number): tf.Tensor {
  const Tq = segQ.shape[1], Tk = segK.shape[1];
  const causal = new Uint8Array(Tq * Tk);
  for (let i = 0; i < Tq; i++) for (let j = 0; j <= Math.min(offset + i, Tk - 1); j++) causal[i * Tk + j] = 1;
  const same = tf.equal(tf.expandDims(segQ, 2), tf.expandDims(segK, 1)); // [B, Tq, Tk]
  const live = tf.notEqual(tf.expandDims(segQ, 2), 0);
  const ok = tf.logicalAnd(tf.logicalAnd(same, live), tf.cast(tf.tensor2d(causal, [Tq, Tk], 'int32'), 'bool'));
  return tf.expandDims(tf.mul(tf.sub(1, tf.cast(ok, 'float32')), NEG), 1);
}

/**
 * Attention from TF.js ops (Vaswani et al. 2017): RoPE on q and k, `past` keys and values in front, GQA, the additive
 * mask, softmax, · v. Every backend but webgpu with fused kernels runs it, and so does generation with a KV cache; it
 * is the reference of kernels/attention.ts. q [B, T, nh, hd], k, v [B, T, nkv, hd] (q and k after their norms),
 * cos/sin [B, 1, T, hd], mask [B, 1, T, Tk] → o [B, T, nh·hd], and k (rotated), v [B, nkv, Tk, hd] for a cache.
 */
export function composedAttention(
  q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor, mask: tf.Tensor,
  past?: { k: tf.Tensor4D; v: tf.Tensor4D },
): { o: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
  const [B, T, nh, hd] = q.shape;
  const nkv = k.shape[2], g = nh / nkv;
  const rope = (t: tf.Tensor) => tf.add(tf.mul(t, cos), tf.mul(rotateHalf(t), sin));
  const qh = rope(tf.transpose(q, [0, 2, 1, 3])); // [B, nh, T, hd]
  let kh = rope(tf.transpose(k, [0, 2, 1, 3])) as tf.Tensor4D; // [B, nkv, T, hd]
  let vh = tf.transpose(v, [0, 2, 1, 3]) as tf.Tensor4D; // [B, nkv, T, hd]
  if (past) {
    kh = tf.concat([past.k, kh], 2);
    vh = tf.concat([past.v, vh], 2);
  }
  const Tk = kh.shape[2];
  // GQA: query head h uses KV head floor(h / g); grouping q as [B, nkv, g·T, hd] avoids repeating k and v.
  // The 1/√hd scale goes on q (small) rather than on the scores, so no extra [.., T, Tk] tensor is kept for backprop.
  const qg = tf.reshape(tf.mul(qh, 1 / Math.sqrt(hd)), [B, nkv, g * T, hd]);
  let att = dot(qg, swapLast(kh)); // [B, nkv, g·T, Tk]
  att = tf.add(tf.reshape(att, [B, nkv, g, T, Tk]), tf.expandDims(mask, 2)); // mask [B, 1, 1, T, Tk]
  att = tf.reshape(tf.softmax(att, -1), [B, nkv, g * T, Tk]);
  const o = tf.reshape(dot(att, vh), [B, nh, T, hd]);
  return { o: tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [B, T, nh * hd]) as tf.Tensor3D, k: kh, v: vh };
}

// ------------------------------------------------------------------ the model

export class Qwen3Model implements CausalLM {
  readonly weights = new Map<string, tf.Variable>();
  private cfg: ModelConfig;

  private constructor(config: ModelConfig) {
    this.cfg = { ...config };
  }

  get config(): ModelConfig {
    return this.cfg;
  }

  /** Deterministic random weights for a seed: normal(0, 0.02) matrices, norms 1 (HF's initialisation). */
  static random(config: ModelConfig, seed: number): Qwen3Model {
    const m = new Qwen3Model(config);
    const rng = new Rng(seed);
    for (const [name, shape] of parameterShapes(config)) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (isMatrix(shape)) for (let i = 0; i < data.length; i++) data[i] = 0.02 * rng.normal();
      else data.fill(1);
      m.setFromHf(name, { shape, data });
    }
    return m;
  }

  /**
   * From Hugging Face-named float32 tensors in HF layout. Missing tensors and shapes that disagree with
   * the config are CheckpointErrors naming the tensor; extra tensors (e.g. a tied lm_head) are ignored.
   */
  static fromTensors(config: ModelConfig, tensors: ReadonlyMap<string, HfTensor>): Qwen3Model {
    const expected = parameterShapes(config);
    for (const [name, shape] of expected) {
      const t = tensors.get(name);
      if (!t) throw new CheckpointError(`missing tensor "${name}" (expected shape [${shape}])`, undefined, name);
      checkShape(name, t, shape);
    }
    const m = new Qwen3Model(config);
    for (const name of expected.keys()) m.setFromHf(name, tensors.get(name)!);
    return m;
  }

  /**
   * As fromTensors, from tensors that arrive one at a time (a checkpoint or a safetensors file read piece by piece):
   * each goes to the device as it comes and is not kept, so a 0.6B model never sits in host memory whole.
   * `onTensor` is told each one's name and bytes (progress). On any error the weights made so far are freed.
   */
  static async fromTensorStream(
    config: ModelConfig, tensors: AsyncIterable<[string, HfTensor]> | Iterable<[string, HfTensor]>, onTensor?: (name: string, bytes: number) => void | Promise<void>,
  ): Promise<Qwen3Model> {
    const expected = parameterShapes(config);
    const m = new Qwen3Model(config);
    try {
      for await (const [name, t] of tensors) {
        const shape = expected.get(name);
        if (!shape) continue; // extra tensors (a tied lm_head) are ignored, as in fromTensors
        checkShape(name, t, shape);
        m.setFromHf(name, t);
        await onTensor?.(name, t.data.byteLength);
      }
      for (const [name, shape] of expected) {
        if (!m.weights.has(name)) throw new CheckpointError(`missing tensor "${name}" (expected shape [${shape}])`, undefined, name);
      }
      return m;
    } catch (e) {
      m.dispose();
      throw e;
    }
  }

  private setFromHf(name: string, t: HfTensor): void {
    const v = tf.tidy(() => {
      const x = tf.tensor(t.data, t.shape, 'float32');
      return tf.variable(isMatrix(t.shape) ? tf.transpose(x) : x, true);
    });
    this.weights.get(name)?.dispose();
    this.weights.set(name, v);
  }

  /** Every parameter in Hugging Face names, layout and order (transposed back from the compute layout). */
  async toTensors(): Promise<Map<string, HfTensor>> {
    const out = new Map<string, HfTensor>();
    for await (const [name, t] of this.hfTensors()) out.set(name, { shape: t.shape, data: new Float32Array(t.data) });
    return out;
  }

  /**
   * The parameters as toTensors gives them, read from the device one at a time when asked for (checkpoints stream
   * them so that only one is in memory). The data may share the backend's buffer: read it, do not modify it.
   */
  async *hfTensors(): AsyncGenerator<[string, HfTensor]> {
    for (const name of parameterShapes(this.cfg).keys()) {
      const w = this.w(name);
      const t = w.rank === 2 ? tf.transpose(w) : w;
      try {
        yield [name, { shape: t.shape.slice(), data: (await t.data()) as Float32Array }];
      } finally {
        if (t !== w) t.dispose();
      }
    }
  }

  private w(name: string): tf.Variable {
    const v = this.weights.get(name);
    if (!v) throw new Error(`Qwen3Model: no weight "${name}"`);
    return v;
  }

  /** The LM head [H, V] (owned by the model: do not dispose). */
  headWeight(): tf.Tensor2D {
    return this.w(this.cfg.tieWordEmbeddings ? EMBED : LM_HEAD) as tf.Tensor2D;
  }

  /** y = x · W for x [N, in], W [in, out] (a constant when the base is frozen), then the hook (LoRA) with the HF name. */
  private linear(name: string, x: tf.Tensor, lin: Linears): tf.Tensor2D {
    const base = (lin.frozen ? dotFrozen : dot)(x as tf.Tensor2D, this.w(name));
    return (lin.hook ? lin.hook(name, x, base) : base) as tf.Tensor2D;
  }

  /**
   * Self-attention of layer i on x [B, T, H] → [B, T, H]. `mask` is the additive mask [B, 1, T, Tk] (composedAttention,
   * which appends to `past`, k, v [B, nKV, L, hd], when given), or the segment ids [B, T] (int32) on the fused path
   * (webgpu, no cache: kernels/attention.ts), whose k and v are returned as they entered it (not rotated; nothing reads them).
   */
  private attention(
    i: number, x: tf.Tensor3D, cos: tf.Tensor, sin: tf.Tensor, mask: tf.Tensor, lin: Linears,
    past?: { k: tf.Tensor4D; v: tf.Tensor4D },
  ): { y: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const c = this.cfg, p = `model.layers.${i}.self_attn.`;
    const [B, T, H] = x.shape;
    const nh = c.numAttentionHeads, nkv = c.numKeyValueHeads, hd = c.headDim;
    const x2 = tf.reshape(x, [B * T, H]);
    const heads = (name: string, n: number, norm?: string) => {
      const t = tf.reshape(this.linear(p + name, x2, lin), [B, T, n, hd]);
      return (norm ? rmsNorm(t, this.w(p + norm), c.rmsNormEps) : t) as tf.Tensor4D; // per-head RMSNorm over hd
    };
    const q = heads('q_proj.weight', nh, 'q_norm.weight'); // [B, T, nh, hd]
    const k = heads('k_proj.weight', nkv, 'k_norm.weight'); // [B, T, nkv, hd]
    const v = heads('v_proj.weight', nkv); // [B, T, nkv, hd]
    const a = mask.dtype === 'int32'
      ? { o: flashAttention(q, k, v, cos, sin, mask as tf.Tensor2D), k, v }
      : composedAttention(q, k, v, cos, sin, mask, past);
    const o2 = tf.reshape(a.o, [B * T, nh * hd]);
    return { y: tf.reshape(this.linear(p + 'o_proj.weight', o2, lin), [B, T, H]), k: a.k, v: a.v };
  }

  /** SwiGLU MLP (Shazeer 2020): down(silu(gate(x)) · up(x)), x [B, T, H] → [B, T, H]. */
  private mlp(i: number, x: tf.Tensor3D, lin: Linears): tf.Tensor3D {
    const p = `model.layers.${i}.mlp.`;
    const [B, T, H] = x.shape;
    const x2 = tf.reshape(x, [B * T, H]);
    const gate = this.linear(p + 'gate_proj.weight', x2, lin);
    const up = this.linear(p + 'up_proj.weight', x2, lin);
    const act = swiglu(gate, up); // silu(gate) · up (kernels/swiglu.ts: fused on webgpu)
    return tf.reshape(this.linear(p + 'down_proj.weight', act as tf.Tensor2D, lin), [B, T, H]);
  }

  /** Shared trunk: embeddings → blocks → final norm. `cache` supplies and collects keys/values. */
  private trunk(x: ForwardInputs, opts: ForwardOptions, cache?: KvCache): { h: tf.Tensor3D; k: tf.Tensor4D[]; v: tf.Tensor4D[] } {
    const lin: Linears = { hook: opts.linearHook, frozen: opts.frozenBase };
    const c = this.cfg;
    const [B, T] = x.inputIds.shape;
    for (const [k, t] of Object.entries(x) as [string, tf.Tensor][]) {
      if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== T || t.dtype !== 'int32') {
        throw new Error(`Qwen3Model: ForwardInputs.${k} must be int32 [${B}, ${T}] like inputIds, got ${t.dtype} [${t.shape}]`);
      }
    }
    let h = tf.reshape(embed(this.w(EMBED) as tf.Tensor2D, tf.reshape(x.inputIds, [B * T])), [B, T, c.hiddenSize]) as tf.Tensor3D;
    const offset = cache?.length ?? 0;
    const [cos, sin] = rotary(x.positionIds, offset + T, c.headDim, c.ropeTheta);
    const segK = offset > 0 ? tf.concat([cache?.segmentIds ?? tf.ones([B, offset], 'int32'), x.segmentIds], 1) as tf.Tensor2D : x.segmentIds;
    // The fused attention (webgpu, training) takes the segment ids and never builds the [B, 1, T, T] mask.
    const mask = !cache && fusedKernelsActive() ? x.segmentIds : attentionMask(x.segmentIds, segK, offset);
    const ks: tf.Tensor4D[] = [], vs: tf.Tensor4D[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      if (opts.recompute && !cache) {
        h = this.recomputedBlock(i, h, cos, sin, mask, lin, opts.recompute.params);
        continue;
      }
      const past = cache && cache.length > 0 ? { k: cache.k[i], v: cache.v[i] } : undefined;
      const b = this.block(i, h, cos, sin, mask, lin, past);
      ks.push(b.k);
      vs.push(b.v);
      h = b.h;
    }
    return { h: rmsNorm(h, this.w(FINAL_NORM), c.rmsNormEps) as tf.Tensor3D, k: ks, v: vs };
  }

  /** Decoder layer i (pre-norm): h + attn(norm(h)), then + mlp(norm(·)). */
  private block(
    i: number, h: tf.Tensor3D, cos: tf.Tensor, sin: tf.Tensor, mask: tf.Tensor, lin: Linears,
    past?: { k: tf.Tensor4D; v: tf.Tensor4D },
  ): { h: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const p = `model.layers.${i}.`, eps = this.cfg.rmsNormEps;
    const a = this.attention(i, rmsNorm(h, this.w(p + 'input_layernorm.weight'), eps) as tf.Tensor3D, cos, sin, mask, lin, past);
    const h1 = tf.add(h, a.y) as tf.Tensor3D;
    return { h: tf.add(h1, this.mlp(i, rmsNorm(h1, this.w(p + 'post_attention_layernorm.weight'), eps) as tf.Tensor3D, lin)), k: a.k, v: a.v };
  }

  /**
   * block() as one custom-gradient op: the forward runs untaped (only h, cos, sin and the mask are kept);
   * the backward recomputes the layer under its own tape and differentiates it with tf.grads.
   */
  private recomputedBlock(
    i: number, h: tf.Tensor3D, cos: tf.Tensor, sin: tf.Tensor, mask: tf.Tensor, lin: Linears,
    params: ReadonlyMap<string, tf.Variable>,
  ): tf.Tensor3D {
    const prefix = `model.layers.${i}.`;
    const mine = [...params].filter(([n]) => n.startsWith(prefix)).map(([, v]) => v);
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const [x, c, s, m] = args as tf.Tensor[];
      save([x, c, s, m]);
      return {
        value: this.block(i, x as tf.Tensor3D, c, s, m, lin).h,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, cs, ss, ms] = saved;
          // tf.grads inside a backward pass would replace the outer pass's tape (engine.state.activeTape)
          // and then clear it; keep the outer one and put it back.
          const engine = tf.engine() as unknown as { state: { activeTape: unknown } };
          const outerTape = engine.state.activeTape;
          let grads: tf.Tensor[];
          try {
            grads = tf.grads((a: tf.Tensor) => this.block(i, a as tf.Tensor3D, cs, ss, ms, lin).h)([xs, ...mine], dy);
          } finally {
            engine.state.activeTape = outerTape;
          }
          // cos, sin and the mask derive from int32 inputs, so TF.js prunes them and never asks for these.
          const unused = tf.zeros([]);
          return [grads[0], unused, unused, unused, ...grads.slice(1)];
        },
      };
    });
    return f(h, cos, sin, mask, ...mine) as tf.Tensor3D;
  }

  /** Final-norm hidden states [B, T, H]; differentiable with respect to `weights`. Call inside tf.tidy. */
  hidden(x: ForwardInputs, opts: ForwardOptions = {}): tf.Tensor3D {
    return this.trunk(x, opts).h;
  }

  /** Full logits [B, T, V] (small vocabularies, tests, generation; training chunks the head instead). */
  logits(x: ForwardInputs, opts: ForwardOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.hidden(x, opts);
      const [B, T, H] = h.shape;
      return tf.reshape(tf.matMul(tf.reshape(h, [B * T, H]), this.headWeight()), [B, T, this.cfg.vocabSize]) as tf.Tensor3D;
    });
  }

  createKvCache(): KvCache {
    return { k: [], v: [], length: 0 };
  }

  /**
   * Runs new token ids (batch 1) after the cached ones and returns the logits [V] of the last of them;
   * the cache grows in place (its old tensors are disposed).
   */
  decode(ids: readonly number[], cache: KvCache, opts: ForwardOptions = {}): tf.Tensor1D {
    const T = ids.length, L = cache.length;
    const x = { batch: 1, ids: Int32Array.from(ids), positions: Int32Array.from({ length: T }, (_, i) => L + i), segments: new Int32Array(T).fill(1) };
    const logits = this.decodeBatch(x, cache, opts);
    const row = tf.reshape(logits, [this.cfg.vocabSize]) as tf.Tensor1D;
    logits.dispose();
    return row;
  }

  /**
   * decode() for a batch: `batch` rows of T new tokens each (row-major) after the cached positions, rows left-padded
   * (segment 0 marks padding, which no live position attends; position ids count each row's own tokens). Returns the
   * logits [B, V] of the last column; the cache (its segment ids included) grows in place.
   */
  decodeBatch(x: DecodeInputs, cache: KvCache, opts: ForwardOptions = {}): tf.Tensor2D {
    const B = x.batch, T = x.ids.length / B;
    if (!(T >= 1 && Number.isInteger(T))) throw new Error('Qwen3Model.decode: no token ids given');
    if (x.positions.length !== B * T || x.segments.length !== B * T) throw new Error('Qwen3Model.decode: ids, positions and segments differ in length');
    if (cache.length > 0 && cache.k[0].shape[0] !== B) throw new Error(`Qwen3Model.decode: batch ${B} after a cache of batch ${cache.k[0].shape[0]}`);
    checkTokenIds(x.ids, this.cfg.vocabSize);
    const L = cache.length, H = this.cfg.hiddenSize;
    const out = tf.tidy(() => {
      const segmentIds = tf.tensor2d(x.segments, [B, T], 'int32');
      const inputs = { inputIds: tf.tensor2d(x.ids, [B, T], 'int32'), positionIds: tf.tensor2d(x.positions, [B, T], 'int32'), segmentIds };
      const r = this.trunk(inputs, opts, cache);
      const last = tf.reshape(tf.slice(r.h, [0, T - 1, 0], [B, 1, H]), [B, H]);
      // Batch 1 never pads: its cache keeps no segment ids (every position live).
      const seg = cache.segmentIds || B > 1 ? (L > 0 ? tf.concat([cache.segmentIds ?? tf.ones([B, L], 'int32'), segmentIds], 1) : segmentIds) : undefined;
      return { logits: tf.matMul(last, this.headWeight()) as tf.Tensor2D, k: r.k, v: r.v, seg };
    });
    disposeKvCache(cache);
    cache.k = out.k;
    cache.v = out.v;
    cache.length = L + T;
    if (out.seg) cache.segmentIds = out.seg as tf.Tensor2D;
    return out.logits;
  }

  /** Grows the vocabulary to newSize (added tokens): new embedding (and untied LM head) columns = the mean one. */
  resizeVocab(newSize: number): void {
    const V = this.cfg.vocabSize;
    if (!Number.isInteger(newSize) || newSize < V) throw new Error(`resizeVocab: new size ${newSize} must be an integer ≥ ${V}`);
    if (newSize === V) return;
    for (const name of this.cfg.tieWordEmbeddings ? [EMBED] : [EMBED, LM_HEAD]) {
      const old = this.w(name);
      const next = tf.tidy(() => tf.variable(tf.concat([old, tf.tile(tf.mean(old, 1, true), [1, newSize - V])], 1), true));
      old.dispose();
      this.weights.set(name, next);
    }
    this.cfg = { ...this.cfg, vocabSize: newSize };
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
  }
}

/** Frees a KV cache's tensors and empties it. */
export function disposeKvCache(cache: KvCache): void {
  for (const t of [...cache.k, ...cache.v]) t.dispose();
  cache.segmentIds?.dispose();
  cache.k = [];
  cache.v = [];
  cache.length = 0;
  cache.segmentIds = undefined;
}

/** ForwardInputs of one unpadded sequence (batch 1, positions 0..T-1, one segment). Caller disposes. */
export function singleSequence(ids: ArrayLike<number>): ForwardInputs {
  const T = ids.length;
  return {
    inputIds: tf.tensor2d(Int32Array.from(ids), [1, T], 'int32'),
    positionIds: tf.tensor2d(Int32Array.from({ length: T }, (_, i) => i), [1, T], 'int32'),
    segmentIds: tf.ones([1, T], 'int32') as tf.Tensor2D,
  };
}
