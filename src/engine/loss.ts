/**
 * The LM head and cross-entropy, in chunks of tokens with a custom gradient, so full logits [N, V] are
 * never materialised (vocab 151936 × 4096 tokens would be 2.5 GB): loss = Σ_valid (logsumexp(h·W) −
 * (h·W)[target]) / denominator over targets != -100. Positions without a target are dropped first.
 */
import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.ts';

export const IGNORE_INDEX = -100;

/** Most tokens per chunk for a vocabulary: one chunk's logits [c, V] are indexed flat with int32 (c·V < 2³¹). */
export function maxChunkTokens(vocabSize: number): number {
  return Math.floor((2 ** 31 - 1) / vocabSize);
}

export interface LmLossOptions {
  /** Tokens per chunk of logits [chunk, V]. */
  chunkTokens: number;
  /** Divide the summed loss by this (default: the number of targets); gradient accumulation passes the step's total. */
  denominator?: number;
  /** The head is not trained (LoRA): its gradient [H, V] is neither computed nor kept, only the one to h. */
  frozenHead?: boolean;
}

/** One-hot rows as float32. (wasm's OneHot with dtype float32 writes integer bits: cast instead.) */
function floatOneHot(ids: ArrayLike<number>, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from(ids), 'int32'), depth), 'float32') as tf.Tensor2D);
}

/** Backends where a transposed matMul operand is much slower than an explicit transpose (PLATFORM-NOTES). */
const transposeFirst = () => ['wasm', 'cpu'].includes(tf.getBackend());

/** Host-side selection of the positions that have a target. */
function selectTargets(targets: Int32Array, V: number): { rows: number[]; tgts: number[] } {
  const rows: number[] = [];
  const tgts: number[] = [];
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (t === IGNORE_INDEX) continue;
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`lmHeadLoss: target ${t} at position ${i} outside [0, ${V})`);
    rows.push(i);
    tgts.push(t);
  }
  return { rows, tgts };
}

/**
 * One chunk: p = softmax(hc·w); loss = Σ −log p[target] (p clamped at 1e-38, so one token contributes at most
 * ≈ 87.3); with `grads`, also dh = (p − onehot)·wᵀ and dW = hcᵀ·(p − onehot). The one-hot subtraction is a
 * scatter update, and each [c, V] tensor is freed as soon as it is used: peak ≈ 2 × c × V floats.
 */
function chunk(hc: tf.Tensor2D, w: tf.Tensor2D, wT: tf.Tensor2D | null, tgts: number[], grads: boolean, headGrad = grads): { loss: tf.Scalar; dh?: tf.Tensor2D; dW?: tf.Tensor2D } {
  const [c] = hc.shape;
  const V = w.shape[1];
  if (c > maxChunkTokens(V)) throw new Error(`lmHeadLoss: a chunk of ${c} tokens × ${V} logits overflows int32 indices (at most ${maxChunkTokens(V)} tokens)`);
  const flat = tf.tensor1d(Int32Array.from(tgts, (t, r) => r * V + t), 'int32');
  const p = tf.tidy(() => tf.reshape(tf.softmax(tf.matMul(hc, w)), [-1])); // [c·V]
  const picked = tf.gather(p, flat); // [c]
  const loss = tf.tidy(() => tf.neg(tf.sum(tf.log(tf.maximum(picked, 1e-38))))) as tf.Scalar;
  if (!grads) {
    tf.dispose([flat, p, picked]);
    return { loss };
  }
  const dLogits = tf.tidy(() => tf.reshape(tf.tensorScatterUpdate(p, tf.expandDims(flat, 1), tf.sub(picked, 1)), [c, V])); // p − onehot
  tf.dispose([flat, p, picked]);
  const dh = (wT ? tf.matMul(dLogits, wT) : tf.matMul(dLogits, w, false, true)) as tf.Tensor2D; // [c, H]
  const dW = headGrad ? (tf.tidy(() => tf.matMul(tf.transpose(hc), dLogits)) as tf.Tensor2D) : undefined; // [H, V]
  dLogits.dispose();
  return { loss, dh, dW };
}

/**
 * Masked mean cross-entropy of h [N, H] through the head w [H, V] against host-side targets [N]:
 * Σ over targets != -100 of −log softmax(h·w)[target], divided by `denominator`. Differentiable in h and w:
 * the gradient is computed chunk by chunk in the forward pass (the loss is a scalar, so the backward pass
 * only scales it by dy), which saves recomputing every chunk's logits. Call inside tf.tidy or variableGrads.
 */
export function lmHeadLoss(h: tf.Tensor2D, w: tf.Tensor2D, targets: Int32Array, opts: LmLossOptions): tf.Scalar {
  const [N, H] = h.shape;
  const V = w.shape[1];
  if (targets.length !== N) throw new Error(`lmHeadLoss: ${targets.length} targets for ${N} hidden rows`);
  if (w.shape[0] !== H) throw new Error(`lmHeadLoss: head is [${w.shape}], expected [${H}, V]`);
  const { rows, tgts } = selectTargets(targets, V);
  const M = rows.length;
  const denom = opts.denominator ?? Math.max(M, 1);
  if (M === 0) return tf.add(tf.mul(tf.sum(h), 0), tf.mul(tf.sum(w), 0)) as tf.Scalar; // connected, zero gradient
  const size = Math.max(1, Math.floor(opts.chunkTokens));
  const all = M === N;

  const frozen = opts.frozenHead === true;
  // A frozen head is not an input of the op: backprop then asks only for dh.
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const hIn = args[0] as tf.Tensor2D;
    const wIn = frozen ? w : (args[1] as tf.Tensor2D);
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const rowIdx = tf.tensor1d(rows, 'int32');
    const hv = (all ? hIn : tf.gather(hIn, rowIdx)) as tf.Tensor2D; // [M, H]
    const wT = transposeFirst() ? tf.transpose(wIn) : null; // [V, H]: one transpose instead of one per chunk
    let total: tf.Tensor = tf.scalar(0);
    let dW: tf.Tensor | null = null;
    const dhParts: tf.Tensor[] = [];
    for (let s = 0; s < M; s += size) {
      const e = Math.min(M, s + size);
      const hc = tf.slice(hv, [s, 0], [e - s, H]);
      const r = chunk(hc, wIn, wT, tgts.slice(s, e), true, !frozen);
      hc.dispose();
      const nextTotal = tf.add(total, r.loss);
      tf.dispose([total, r.loss]);
      total = nextTotal;
      if (r.dW) {
        const nextDW: tf.Tensor = dW ? tf.add(dW, r.dW) : r.dW;
        if (dW) tf.dispose([dW, r.dW]);
        dW = nextDW;
      }
      dhParts.push(r.dh!);
    }
    wT?.dispose();
    const dhv = dhParts.length === 1 ? dhParts[0] : tf.concat(dhParts, 0); // [M, H]
    if (dhParts.length > 1) tf.dispose(dhParts);
    const dh = all ? dhv : tf.tidy(() => tf.scatterND(tf.expandDims(rowIdx, 1), dhv, [N, H])); // rows without a target get 0
    if (!all) tf.dispose([dhv, hv]);
    rowIdx.dispose();
    save(dW ? [dh, dW] : [dh]);
    const value = tf.div(total, denom) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const scale = tf.div(dy, denom);
        return saved.map((g) => tf.mul(g, scale));
      },
    };
  });
  return (frozen ? f(h) : f(h, w)) as tf.Scalar;
}

/** The same loss without gradients (evaluation): Σ / denominator, chunked, call inside tf.tidy. */
export function lmHeadLossValue(h: tf.Tensor2D, w: tf.Tensor2D, targets: Int32Array, opts: LmLossOptions): tf.Scalar {
  const [N, H] = h.shape;
  const { rows, tgts } = selectTargets(targets, w.shape[1]);
  const M = rows.length;
  const denom = opts.denominator ?? Math.max(M, 1);
  if (M === 0) return tf.scalar(0);
  const size = Math.max(1, Math.floor(opts.chunkTokens));
  return tf.tidy(() => {
    const hv = M === N ? h : (tf.gather(h, tf.tensor1d(rows, 'int32')) as tf.Tensor2D);
    let total: tf.Tensor = tf.scalar(0);
    for (let s = 0; s < M; s += size) {
      const e = Math.min(M, s + size);
      total = tf.add(total, chunk(tf.slice(hv, [s, 0], [e - s, H]), w, null, tgts.slice(s, e), false).loss);
    }
    return tf.div(total, denom) as tf.Scalar;
  });
}

/** Reference: the same loss with full logits and plain autodiff (tests and tiny vocabularies only). */
export function lmHeadLossUnchunked(h: tf.Tensor2D, w: tf.Tensor2D, targets: Int32Array, denominator?: number): tf.Scalar {
  return tf.tidy(() => {
    const V = w.shape[1];
    const mask = Float32Array.from(targets, (t) => (t === IGNORE_INDEX ? 0 : 1));
    const safe = Int32Array.from(targets, (t) => (t === IGNORE_INDEX ? 0 : t));
    const logp = tf.logSoftmax(tf.matMul(h, w)); // [N, V]
    const nll = tf.neg(tf.sum(tf.mul(logp, floatOneHot(safe, V)), 1)); // [N]
    const count = mask.reduce((a, b) => a + b, 0);
    return tf.div(tf.sum(tf.mul(nll, tf.tensor1d(mask))), denominator ?? Math.max(count, 1)) as tf.Scalar;
  });
}
