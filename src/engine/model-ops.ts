/**
 * Two ops with custom gradients that the model needs on every backend: `dot` (a matMul whose backward
 * avoids transposed-operand matMuls, 10–15x slower on wasm) and `embed` (a column lookup whose gradient
 * is a ScatterNd, because the wasm backend lacks UnsortedSegmentSum, the kernel of gather's gradient).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Swaps the last two axes. */
export const swapLast = (t: tf.Tensor) => tf.transpose(t, [...t.shape.keys()].map((i, _, a) => (i < a.length - 2 ? i : 2 * a.length - 3 - i)));

/**
 * a · b (rank 2, or batched rank 3/4) whose gradient transposes its operands explicitly: dA = dY · bᵀ,
 * dB = aᵀ · dY. TF.js's own matMul gradient uses transposeA/transposeB, which the wasm backend runs
 * 10–15x slower than a transpose followed by a plain matMul (measured: 1024×256×768, 181 ms vs 11 ms).
 */
export function dot<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, y]);
    return {
      value: plainMatMul(x, y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [plainMatMul(dy, swapLast(saved[1])), plainMatMul(swapLast(saved[0]), dy)],
    };
  });
  return f(a, b) as T;
}

/**
 * a · w for a frozen w (a base weight under LoRA): w is not an input of the op, so backprop computes only dA = dY · wᵀ
 * and never the weight gradient aᵀ · dY that nothing would use (a third of a linear layer's training FLOPs).
 */
export function dotFrozen<T extends tf.Tensor>(a: T, w: tf.Tensor): T {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([]);
    return { value: plainMatMul(x, w), gradFunc: (dy: tf.Tensor) => [plainMatMul(dy, swapLast(w))] };
  });
  return f(a) as T;
}

/** matMul without transposes (wasm's batched path was tried as per-entry 2-D products: slower in the full graph). */
function plainMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);
}

/**
 * Embedding lookup from E [H, V] for ids [N] → [N, H], with a ScatterNd gradient that every backend has:
 * dE[h, ids[n]] += dy[n, h], scattered straight into the [H, V] layout (no V×H transpose per step).
 */
export function embed(E: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const [H, V] = E.shape;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const e = args[0] as tf.Tensor2D, save = args[1] as tf.GradSaveFunc;
    save([ids]);
    return {
      value: tf.transpose(tf.gather(e, ids, 1)) as tf.Tensor2D, // [N, H]
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const N = dy.shape[0];
        const rows = tf.tile(tf.reshape(tf.range(0, H, 1, 'int32'), [H, 1]), [1, N]); // [H, N]: h
        const cols = tf.tile(tf.reshape(saved[0], [1, N]), [H, 1]); // [H, N]: ids[n]
        const at = tf.reshape(tf.stack([rows, cols], 2), [H * N, 2]);
        return [tf.scatterND(at, tf.reshape(tf.transpose(dy), [H * N]), [H, V])]; // [H, V], duplicates summed
      },
    };
  });
  return f(E) as tf.Tensor2D;
}
