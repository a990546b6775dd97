/**
 * RMSNorm over the last axis (Zhang & Sennrich 2019), y = x / sqrt(mean(x²) + eps) · w, as one op: on webgpu with the
 * fused kernels on, one dispatch forward and two backward (dx with per-block partial sums of dw, then their column sum),
 * registered as TF.js kernels with their gradient; everywhere else TF.js's op-by-op composition, which is the reference.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedKernelsActive } from './switch.ts';
import { asWebGpu, encodeDispatch, gridFor, treeReduce, WORKGROUP_INDEX, type OwnKernel, type WebGPUProgram } from './webgpu.ts';

export const RMS_NORM = 'WorkbenchRmsNorm';
export const RMS_NORM_GRAD = 'WorkbenchRmsNormGrad';

/** The composition every other backend runs (and fused webgpu is tested against). */
export function rmsNormComposed(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}

/** RMSNorm of x [..., H] with weight w [H]: fused on webgpu when the switch is on, else rmsNormComposed. */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  if (!fusedKernelsActive()) return rmsNormComposed(x, w, eps);
  const H = x.shape[x.rank - 1];
  return tf.tidy(() => {
    const y = tf.engine().runKernel(RMS_NORM, { x: tf.reshape(x, [x.size / H, H]), w }, { eps }) as tf.Tensor;
    return tf.reshape(y, x.shape);
  });
}

// ---------------------------------------------------------------- kernels (webgpu)

const WG = 64; // threads per row (forward) or per block of rows (backward)
const MAX_ROWS = 256; // rows per block in the backward pass (workgroup arrays hold one r and one coefficient per row)

/** Forward: one workgroup per row [N, H] (any N: the grid goes 2-D past 65535 rows), Σx² reduced in the workgroup. */
class RmsNormProgram implements WebGPUProgram {
  variableNames = ['x', 'w'];
  outputShape: number[];
  shaderKey = 'workbench_rms_norm';
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  uniforms = 'eps : f32,';

  constructor(N: number, H: number) {
    this.outputShape = [N, H];
    this.dispatch = [N, 1, 1]; // the backend reshapes it to 2-D when N is past the per-dimension limit
  }

  getUserCode(): string {
    // TF.js's preamble declares result, x, w (arrays of what their buffers hold: read through f32), uniforms (xShape,
    // outShape, eps) and the workgroupId/localId privates.
    return `
    var<workgroup> part : array<f32, ${WG}>;
    fn main(index : i32) {
      let tid = localId.x;
      let row = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
      let N = uniforms.outShape.x;
      let H = uniforms.outShape.y;
      let live = row < N;
      let base = row * H;
      var s = 0.0;
      if (live) {
        for (var c = i32(tid); c < H; c += ${WG}) { let v = f32(x[base + c]); s += v * v; }
      }
      part[tid] = s;
      workgroupBarrier();
      ${treeReduce(['part'], WG)}
      let r = inverseSqrt(part[0] / f32(H) + uniforms.eps);
      if (live) {
        for (var c = i32(tid); c < H; c += ${WG}) { result[base + c] = f32(x[base + c]) * r * f32(w[c]); }
      }
    }`;
  }
}

/** dw = the column sums of the backward pass's partials [B, H]: one thread per column. */
class ColumnSumProgram implements WebGPUProgram {
  variableNames = ['partial'];
  outputShape: number[];
  shaderKey = 'workbench_column_sum';
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size = true;

  constructor(H: number) {
    this.outputShape = [H];
    this.dispatch = [Math.ceil(H / WG), 1, 1];
  }

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        let B = uniforms.partialShape.x;
        let H = uniforms.partialShape.y;
        var s = 0.0;
        for (var b = 0; b < B; b++) { s += partial[b * H + index]; }
        setOutputAtIndex(index, s);
      }
    }`;
  }
}

/**
 * Backward, one dispatch: a workgroup takes a block of `rows` rows; first, per row, r = rsqrt(mean(x²) + eps) and
 * coef = r³/H · Σ dy·w·x (reduced in the workgroup); then, per column, dx = dy·w·r − x·coef for each of its rows and
 * the block's share of dw, Σ_rows dy·x·r, into partial[block, column].
 */
const GRAD: OwnKernel = {
  key: RMS_NORM_GRAD,
  bindings: [{ name: 'x' }, { name: 'w' }, { name: 'dy' }, { name: 'dx', write: true }, { name: 'partial', write: true }],
  uniforms: 'n : i32, h : i32, rows : i32, blocks : i32, eps : f32',
  main: `
var<workgroup> s1 : array<f32, ${WG}>;
var<workgroup> s2 : array<f32, ${WG}>;
var<workgroup> rs : array<f32, ${MAX_ROWS}>;
var<workgroup> cs : array<f32, ${MAX_ROWS}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) tid : u32, @builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let block = i32(${WORKGROUP_INDEX});
  if (block >= u.blocks) { return; }
  let r0 = block * u.rows;
  let nr = min(u.rows, u.n - r0);
  let H = u.h;
  for (var k = 0; k < nr; k++) {
    let base = (r0 + k) * H;
    var a = 0.0;
    var b = 0.0;
    for (var c = i32(tid); c < H; c += ${WG}) {
      let xv = f32(x[base + c]);
      a += xv * xv;
      b += f32(dy[base + c]) * f32(w[c]) * xv;
    }
    s1[tid] = a;
    s2[tid] = b;
    workgroupBarrier();
    ${treeReduce(['s1', 's2'], WG)}
    if (tid == 0u) {
      let r = inverseSqrt(s1[0] / f32(H) + u.eps);
      rs[k] = r;
      cs[k] = s2[0] * r * r * r / f32(H);
    }
    workgroupBarrier();
  }
  for (var c = i32(tid); c < H; c += ${WG}) {
    let wc = f32(w[c]);
    var acc = 0.0;
    for (var k = 0; k < nr; k++) {
      let i = (r0 + k) * H + c;
      let xv = f32(x[i]);
      let g = f32(dy[i]);
      let r = rs[k];
      dx[i] = g * wc * r - xv * cs[k];
      acc += g * xv * r;
    }
    partial[block * H + c] = acc;
  }
}`,
};

/** Rows per block and blocks for N rows: about 512 blocks (enough workgroups), at most MAX_ROWS rows each. */
function blocking(N: number): { rows: number; blocks: number } {
  const rows = Math.min(MAX_ROWS, Math.max(1, Math.ceil(N / 512)));
  return { rows, blocks: Math.ceil(N / rows) };
}

tf.registerKernel({
  kernelName: RMS_NORM,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, w } = inputs as { x: tf.TensorInfo; w: tf.TensorInfo };
    const [N, H] = x.shape;
    return asWebGpu(backend).runWebGPUProgram(new RmsNormProgram(N, H), [x, w], 'float32', [{ type: 'float32', data: [attrs!.eps as number] }]);
  },
});

tf.registerKernel({
  kernelName: RMS_NORM_GRAD,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = asWebGpu(backend);
    const { x, w, dy } = inputs as { x: tf.TensorInfo; w: tf.TensorInfo; dy: tf.TensorInfo };
    const [N, H] = x.shape;
    const { rows, blocks } = blocking(N);
    const dx = b.makeTensorInfo([N, H], 'float32');
    const partial = b.makeTensorInfo([blocks, H], 'float32');
    encodeDispatch(
      b, GRAD, [x, w, dy, dx, partial],
      [{ type: 'int32', data: [N] }, { type: 'int32', data: [H] }, { type: 'int32', data: [rows] }, { type: 'int32', data: [blocks] }, { type: 'float32', data: [attrs!.eps as number] }],
      gridFor(blocks),
    );
    const dw = b.runWebGPUProgram(new ColumnSumProgram(H), [partial], 'float32');
    b.disposeData(partial.dataId);
    return [dx, dw];
  },
});

tf.registerGradient({
  kernelName: RMS_NORM,
  inputsToSave: ['x', 'w'],
  gradFunc: (dy, saved, attrs) => {
    const [x, w] = saved;
    // One kernel gives both gradients, so it runs here, once: the tape then calls each input's function inside a tidy
    // of its own, which would dispose the other gradient if it were made there. An unused one (a frozen weight) goes
    // with the backward pass's tidy.
    const [d0, d1] = tf.engine().runKernel(RMS_NORM_GRAD, { x, w, dy: dy as tf.Tensor }, attrs) as tf.Tensor[];
    return { x: () => d0, w: () => d1 };
  },
});
