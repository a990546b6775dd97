/**
 * Fused causal self-attention for training on TF.js's webgpu backend, FlashAttention-2 style: RoPE, GQA, the packing
 * and padding masks and the online softmax in tiles, never a [T, T] tensor in global memory, forward and backward.
 */
// Dispatches: forward 2 (the kernel, a copy of o out of its packed result), backward 4 (dq; dk and dv together; two
// copies). The op-by-op composition in model.ts (composedAttention) is the reference and what every other backend
// runs; so does generation with a KV cache.
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { CopySliceProgram, FlashForwardProgram, FlashGradKVProgram, FlashGradQProgram, tilesFor } from './attention-programs.ts';

export const FLASH_ATTENTION = 'WorkbenchFlashAttention';
export const FLASH_ATTENTION_GRAD = 'WorkbenchFlashAttentionGrad';

/**
 * softmax(q·kᵀ/√hd + mask)·v with RoPE applied to q and k, for q [B, T, nh, hd] and k, v [B, T, nkv, hd] (q and k after
 * their RMSNorm, before RoPE; the layout the projections give, so no transposes), cos and sin [B, 1, T, hd] (the
 * host-computed table gathered by position), and segment ids [B, T] int32: query i attends key j iff j ≤ i and both
 * have the same non-zero segment id; a row that attends nothing (padding) gives 0 and passes 0 gradient, and a row
 * that attends a non-finite score gives NaN, as the composition does (the trainer's non-finite check must see it).
 * Returns o [B, T, nh·hd], ready for o_proj. Differentiable in q, k and v. webgpu only (see fusedKernelsActive).
 */
export function flashAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor, segmentIds: tf.Tensor2D): tf.Tensor3D {
  const [B, T, nh, hd] = q.shape;
  const nkv = k.shape[2];
  const want = (what: string, t: tf.Tensor, shape: number[], dtype: tf.DataType) => {
    if (t.dtype !== dtype || t.shape.join() !== shape.join()) {
      throw new Error(`flashAttention: ${what} must be ${dtype} [${shape}], got ${t.dtype} [${t.shape}]`);
    }
  };
  if (nkv < 1 || nh % nkv !== 0) throw new Error(`flashAttention: ${nh} query heads cannot share ${nkv} key/value heads evenly`);
  want('k', k, [B, T, nkv, hd], 'float32');
  want('v', v, [B, T, nkv, hd], 'float32');
  want('cos', cos, [B, 1, T, hd], 'float32');
  want('sin', sin, [B, 1, T, hd], 'float32');
  want('segmentIds', segmentIds, [B, T], 'int32');
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, ki, vi, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [o, fwd] = tf.engine().runKernel(FLASH_ATTENTION, { q: qi, k: ki, v: vi, cos, sin, seg: segmentIds }) as tf.Tensor[];
    save([qi, ki, vi, cos, sin, fwd]); // fwd: o, the rows' log-sum-exp and the segment ids, for the backward
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qs, ks, vs, cs, ss, fs] = saved;
        return tf.engine().runKernel(FLASH_ATTENTION_GRAD, { q: qs, k: ks, v: vs, cos: cs, sin: ss, fwd: fs, dy }) as tf.Tensor[];
      },
    };
  });
  return f(q, k, v) as tf.Tensor3D;
}

// ---------------------------------------------------------------- kernels (webgpu)

type Uniforms = { type: 'int32'; data: number[] }[];

/** The part of TF.js's WebGPUBackend the kernels call (runWebGPUProgram is public API of the backend class). */
interface Backend {
  runWebGPUProgram(program: WebGPUProgram, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: Uniforms): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}
const asBackend = (b: unknown) => b as Backend;

/** The same data seen as one flat row (the programs index by hand; no copy). */
const flat = (t: tf.TensorInfo): tf.TensorInfo => ({ dataId: t.dataId, dtype: t.dtype, shape: [t.shape.reduce((a, b) => a * b, 1)] });
const withShape = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: t.dataId, dtype: t.dtype, shape });

/** A copy of fwd[offset, offset + size) as its own tensor of `shape`. */
function copySlice(b: Backend, x: tf.TensorInfo, offset: number, shape: number[]): tf.TensorInfo {
  const size = shape.reduce((a, c) => a * c, 1);
  return withShape(b.runWebGPUProgram(new CopySliceProgram(size), [flat(x)], 'float32', [{ type: 'int32', data: [offset] }]), shape);
}

const dims = (q: tf.TensorInfo, k: tf.TensorInfo) => {
  const [B, T, nh, hd] = q.shape;
  const nkv = k.shape[2];
  return { B, T, nh, nkv, hd, uniforms: [B, T, nh, nkv].map((n) => ({ type: 'int32' as const, data: [n] })) };
};

tf.registerKernel({
  kernelName: FLASH_ATTENTION,
  backendName: 'webgpu',
  // Outputs: o [B, T, nh·hd] and fwd = [o | lse | segment ids] (flat), which the backward reads.
  kernelFunc: ({ inputs, backend }) => {
    const b = asBackend(backend);
    const { q, k, v, cos, sin, seg } = inputs as Record<'q' | 'k' | 'v' | 'cos' | 'sin' | 'seg', tf.TensorInfo>;
    const { B, T, nh, hd, uniforms } = dims(q, k);
    const program = new FlashForwardProgram(tilesFor(hd), B, T, nh);
    const fwd = b.runWebGPUProgram(program, [q, k, v, cos, sin, seg].map(flat), 'float32', uniforms);
    return [copySlice(b, fwd, 0, [B, T, nh * hd]), fwd];
  },
});

tf.registerKernel({
  kernelName: FLASH_ATTENTION_GRAD,
  backendName: 'webgpu',
  // Outputs: dq [B, T, nh, hd], dk and dv [B, T, nkv, hd].
  kernelFunc: ({ inputs, backend }) => {
    const b = asBackend(backend);
    const { q, k, v, cos, sin, fwd, dy } = inputs as Record<'q' | 'k' | 'v' | 'cos' | 'sin' | 'fwd' | 'dy', tf.TensorInfo>;
    const { B, T, nh, nkv, hd, uniforms } = dims(q, k);
    const tiles = tilesFor(hd);
    const bound = [q, k, v, cos, sin, dy, fwd].map(flat);
    const dq = b.runWebGPUProgram(new FlashGradQProgram(tiles, B, T, nh), bound, 'float32', uniforms);
    const dkv = b.runWebGPUProgram(new FlashGradKVProgram(tiles, B, T, nkv), bound, 'float32', uniforms);
    const kvShape = [B, T, nkv, hd], nKV = B * T * nkv * hd;
    const dk = copySlice(b, dkv, 0, kvShape), dv = copySlice(b, dkv, nKV, kvShape);
    b.disposeData(dkv.dataId);
    return [withShape(dq, [B, T, nh, hd]), dk, dv];
  },
});
