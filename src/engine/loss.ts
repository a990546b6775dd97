/**
 * The LM head and cross-entropy, in chunks of tokens with a custom gradient, so full logits [N, V] are
 * never materialised (vocab 151936 × 4096 tokens would be 2.5 GB): loss = Σ_valid (logsumexp(h·W) −
 * (h·W)[target]) / denominator over targets != -100. Positions without a target are dropped first.
 */
import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.ts';

export const IGNORE_INDEX = -100;

export interface LmLossOptions {
  /** Tokens per chunk of logits [chunk, V]. */
  chunkTokens: number;
  /** Divide the summed loss by this (default: the number of targets); gradient accumulation passes the step's total. */
  denominator?: number;
}

/** One-hot rows as float32. (wasm's OneHot with dtype float32 writes integer bits: cast instead.) */
function floatOneHot(ids: ArrayLike<number>, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from(ids), 'int32'), depth), 'float32') as tf.Tensor2D);
}

/** Backends where a transposed matMul operand is much slower than an explicit transpose (PLATFORM-NOTES). */
const transposeFirst = () => ['wasm', 'cpu'].includes(tf.getBackend());

/**
 * Masked mean cross-entropy of h [N, H] through the head w [H, V] against host-side targets [N].
 * Differentiable in h and w (custom gradient recomputing each chunk's logits). Call inside tf.tidy.
 */
export function lmHeadLoss(h: tf.Tensor2D, w: tf.Tensor2D, targets: Int32Array, opts: LmLossOptions): tf.Scalar {
  const [N, H] = h.shape;
  const V = w.shape[1];
  if (targets.length !== N) throw new Error(`lmHeadLoss: ${targets.length} targets for ${N} hidden rows`);
  if (w.shape[0] !== H) throw new Error(`lmHeadLoss: head is [${w.shape}], expected [${H}, V]`);
  const rows: number[] = [];
  const tgts: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = targets[i];
    if (t === IGNORE_INDEX) continue;
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`lmHeadLoss: target ${t} at position ${i} outside [0, ${V})`);
    rows.push(i);
    tgts.push(t);
  }
  const M = rows.length;
  const denom = opts.denominator ?? Math.max(M, 1);
  if (M === 0) return tf.add(tf.mul(tf.sum(h), 0), tf.mul(tf.sum(w), 0)) as tf.Scalar; // connected, zero gradient
  const chunk = Math.max(1, Math.floor(opts.chunkTokens));
  const all = M === N;
  const bounds: [number, number][] = [];
  for (let s = 0; s < M; s += chunk) bounds.push([s, Math.min(M, s + chunk)]);

  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [hIn, wIn, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const rowIdx = tf.tensor1d(rows, 'int32');
    const hv = (all ? hIn : tf.gather(hIn, rowIdx)) as tf.Tensor2D; // [M, H]
    save([hv, wIn, rowIdx]);
    let total: tf.Tensor = tf.scalar(0);
    for (const [s, e] of bounds) {
      const next = tf.tidy(() => {
        const logits = tf.matMul(tf.slice(hv, [s, 0], [e - s, H]), wIn as tf.Tensor2D); // [c, V]
        const flat = Int32Array.from({ length: e - s }, (_, r) => r * V + tgts[s + r]);
        const picked = tf.gather(tf.reshape(logits, [-1]), tf.tensor1d(flat, 'int32')); // [c]
        return tf.add(total, tf.sum(tf.sub(tf.logSumExp(logits, 1), picked)));
      });
      total.dispose();
      total = next;
    }
    const value = tf.div(total, denom) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [hvS, wS, idxS] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const scale = tf.div(dy, denom);
        const wT = transposeFirst() ? tf.transpose(wS) : null; // [V, H]: one transpose instead of one per chunk
        let dW: tf.Tensor = tf.zerosLike(wS);
        const dhParts: tf.Tensor[] = [];
        for (const [s, e] of bounds) {
          const [dh, nextDW] = tf.tidy(() => {
            const hc = tf.slice(hvS, [s, 0], [e - s, H]);
            const logits = tf.matMul(hc, wS); // [c, V]
            const oneHot = floatOneHot(tgts.slice(s, e), V);
            const dLogits = tf.mul(tf.sub(tf.softmax(logits), oneHot), scale); // [c, V]
            const dhc = wT ? tf.matMul(dLogits, wT) : tf.matMul(dLogits, wS, false, true); // [c, H]
            return [dhc, tf.add(dW, tf.matMul(tf.transpose(hc), dLogits))]; // dW += hcᵀ · dLogits  [H, V]
          });
          dW.dispose();
          dW = nextDW;
          dhParts.push(dh);
        }
        wT?.dispose();
        scale.dispose();
        const dhv = dhParts.length === 1 ? dhParts[0] : tf.concat(dhParts, 0); // [M, H]
        if (dhParts.length > 1) dhParts.forEach((t) => t.dispose());
        if (all) return [dhv, dW];
        const dh = tf.scatterND(tf.expandDims(idxS, 1), dhv, [N, H]); // rows without a target get 0
        dhv.dispose();
        return [dh, dW];
      },
    };
  });
  return f(h, w) as tf.Scalar;
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
