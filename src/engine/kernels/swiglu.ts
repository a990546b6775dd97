/**
 * The elementwise middle of the SwiGLU MLP (Shazeer 2020), silu(gate) · up, as one op: on webgpu with the fused kernels
 * on, one dispatch forward and one backward (dgate and dup together), registered as TF.js kernels with their gradient;
 * everywhere else TF.js's op-by-op composition, which is the reference.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedKernelsActive } from './switch.ts';
import { asWebGpu, encodeDispatch, MAX_WORKGROUPS, type OwnKernel, type WebGPUProgram } from './webgpu.ts';

export const SWIGLU = 'WorkbenchSwiGLU';
export const SWIGLU_GRAD = 'WorkbenchSwiGLUGrad';

/** The composition every other backend runs (and fused webgpu is tested against). */
export function swigluComposed(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}

/** silu(gate) · up for two tensors of one shape: fused on webgpu when the switch is on, else swigluComposed. */
export function swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  if (!fusedKernelsActive()) return swigluComposed(gate, up);
  if (gate.shape.join() !== up.shape.join()) throw new Error(`swiglu: gate [${gate.shape}] and up [${up.shape}] must have one shape`);
  return tf.engine().runKernel(SWIGLU, { gate, up }) as tf.Tensor;
}

// ---------------------------------------------------------------- kernels (webgpu)

const WG = 256;

/** Forward: one thread per element. The sigmoid is TF.js's own formula, so the forward matches the composition. */
class SwigluProgram implements WebGPUProgram {
  variableNames = ['gate', 'up'];
  outputShape: number[];
  shaderKey = 'workbench_swiglu';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size = true;

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    this.dispatch = [Math.ceil(shape.reduce((a, b) => a * b, 1) / WG), 1, 1];
  }

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        let g = f32(gate[index]);
        let s = 1.0 / (1.0 + exp(-1.0 * g));
        setOutputAtIndex(index, g * s * f32(up[index]));
      }
    }`;
  }
}

/**
 * Backward, one dispatch with two outputs, in the composition's order of operations: a = dy·up, dgate = a·s +
 * (a·g)·s(1 − s) (the product rule through g·s, then the sigmoid's derivative), dup = dy·(g·s). Grid-stride loop.
 */
const GRAD: OwnKernel = {
  key: SWIGLU_GRAD,
  bindings: [{ name: 'gate' }, { name: 'up' }, { name: 'dy' }, { name: 'dgate', write: true }, { name: 'dup', write: true }],
  uniforms: 'n : i32',
  main: `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let stride = i32(nwg.x) * ${WG};
  for (var i = i32(gid.x); i < u.n; i += stride) {
    let g = f32(gate[i]);
    let s = 1.0 / (1.0 + exp(-1.0 * g));
    let d = f32(dy[i]);
    let a = d * f32(up[i]);
    dgate[i] = a * s + (a * g) * (s * (1.0 - s));
    dup[i] = d * (g * s);
  }
}`,
};

tf.registerKernel({
  kernelName: SWIGLU,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const { gate, up } = inputs as { gate: tf.TensorInfo; up: tf.TensorInfo };
    return asWebGpu(backend).runWebGPUProgram(new SwigluProgram(gate.shape), [gate, up], 'float32');
  },
});

tf.registerKernel({
  kernelName: SWIGLU_GRAD,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const b = asWebGpu(backend);
    const { gate, up, dy } = inputs as { gate: tf.TensorInfo; up: tf.TensorInfo; dy: tf.TensorInfo };
    const n = gate.shape.reduce((x, y) => x * y, 1);
    const dgate = b.makeTensorInfo(gate.shape, 'float32');
    const dup = b.makeTensorInfo(gate.shape, 'float32');
    encodeDispatch(
      b, GRAD, [gate, up, dy, dgate, dup],
      [{ type: 'int32', data: [n] }],
      [Math.max(1, Math.min(MAX_WORKGROUPS, Math.ceil(n / WG))), 1, 1],
    );
    return [dgate, dup];
  },
});

tf.registerGradient({
  kernelName: SWIGLU,
  inputsToSave: ['gate', 'up'],
  gradFunc: (dy, saved) => {
    const [gate, up] = saved;
    // One kernel gives both gradients, so it runs here, once: the tape then calls each input's function inside a tidy
    // of its own, which would dispose the other gradient if it were made there. An unused one (a frozen weight) goes
    // with the backward pass's tidy.
    const [d0, d1] = tf.engine().runKernel(SWIGLU_GRAD, { gate, up, dy: dy as tf.Tensor }) as tf.Tensor[];
    return { gate: () => d0, up: () => d1 };
  },
});
