/**
 * AdamW's update on webgpu as one dispatch per parameter that rewrites p, m and v in place (plus one per step for the
 * step's scalars), with optimizer.ts's formula and its bit-exact skip: when the step's `ok` is 0 nothing is written.
 * TF.js programs have one output and cannot read what they write, so these are pipelines of our own with three
 * read_write bindings on the variables' own buffers, recorded into TF.js's command stream (webgpu.ts encodeDispatch).
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWebGpu, encodeDispatch, IS_FINITE_WGSL, MAX_WORKGROUPS, type OwnKernel, type WebGpuBackendView } from './webgpu.ts';

/** One parameter's update: the weight, its two moments and its gradient (already summed over micro-batches). */
export interface AdamWEntry {
  p: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  g: tf.Tensor;
}

export interface FusedAdamWStep {
  /** Updates applied so far (a float32 scalar variable), advanced in place by 1 when `ok` is 1. */
  t: tf.Variable;
  /** 1 to apply the step, 0 to leave everything bit for bit as it is (any other value > 0 counts as 1). */
  ok: tf.Scalar;
  /** Gradient clip factor; multiplies every gradient (absent: 1). */
  gradScale?: tf.Scalar;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

const WG = 256;

/**
 * The step's scalars into S = [on, gate, 1/(1 − β1^t), 1/(1 − β2^t)] with t advanced in place, as optimizer.ts computes
 * them: on = (ok > 0), gate = on ? gradScale : 0 (a select, so a NaN scale cannot reach a skipped step), t' = t + on.
 * `ok` is read through f32(…): the trainer's is a bool cast to float32, whose buffer holds an i32.
 */
const PREP: OwnKernel = {
  key: 'WorkbenchAdamWPrep',
  bindings: [{ name: 't', write: true }, { name: 'ok' }, { name: 'scale' }, { name: 'S', write: true }],
  uniforms: 'b1 : f32, b2 : f32, hasScale : i32',
  main: `
@compute @workgroup_size(1)
fn main() {
  let keep = f32(ok[0]) > 0.0;
  let on = select(0.0, 1.0, keep);
  let t1 = t[0] + on;
  let ts = max(t1, 1.0);
  S[0] = on;
  S[1] = select(0.0, select(on, f32(scale[0]), u.hasScale != 0), keep);
  S[2] = 1.0 / (1.0 - pow(u.b1, ts));
  S[3] = 1.0 / (1.0 - pow(u.b2, ts));
  if (keep) { t[0] = t1; }
}`,
};

/**
 * One parameter: g ← finite(g) ? g·gate : 0; m ← m + k1(g − m); v ← v + k2(g² − v);
 * p ← p·(1 − lr·wd) (matrices) − lr · m·c1 / (√(v·c2) + ε), with k1 = on·(1 − β1), k2 = on·(1 − β2), lr·on, in the
 * composition's order of operations. With on = 0 every invocation returns before touching memory: p, m, v keep every
 * bit (−0 and NaN payloads included). Grid-stride loop.
 */
const UPDATE: OwnKernel = {
  key: 'WorkbenchAdamW',
  bindings: [{ name: 'p', write: true }, { name: 'm', write: true }, { name: 'v', write: true }, { name: 'g' }, { name: 'S' }],
  uniforms: 'k1 : f32, k2 : f32, lr : f32, wd : f32, eps : f32, decay : i32, n : i32',
  main: `
${IS_FINITE_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let on = f32(S[0]);
  if (on == 0.0) { return; }
  let gate = f32(S[1]);
  let c1 = f32(S[2]);
  let c2 = f32(S[3]);
  let k1 = on * u.k1;
  let k2 = on * u.k2;
  let step = on * u.lr;
  let decay = 1.0 - step * u.wd;
  let stride = i32(nwg.x) * ${WG};
  for (var i = i32(gid.x); i < u.n; i += stride) {
    let g0 = f32(g[i]);
    let gi = select(0.0, g0, isFiniteF32(g0)) * gate;
    let mi = m[i] + k1 * (gi - m[i]);
    let vi = v[i] + k2 * (gi * gi - v[i]);
    m[i] = mi;
    v[i] = vi;
    let upd = (mi * c1) / (sqrt(vi * c2) + u.eps);
    let pi = p[i];
    p[i] = select(pi, pi * decay, u.decay != 0) - upd * step;
  }
}`,
};

/**
 * Whether the fused update can run: the webgpu backend, and every buffer it writes (each p, m, v and t) held by that
 * variable alone. A buffer shared with another tensor (a variable made from a tensor still alive elsewhere) would
 * change under it; the caller then composes, which replaces the variables' data instead of writing it.
 */
export function canUpdateInPlace(step: Pick<FusedAdamWStep, 't'>, entries: readonly AdamWEntry[]): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const b = asWebGpu(tf.backend());
  const sole = (x: tf.Tensor) => b.refCount(x.dataId) === 1;
  return sole(step.t) && entries.every((e) => sole(e.p) && sole(e.m) && sole(e.v));
}

/**
 * One AdamW step for every entry: 1 + entries.length dispatches, no tensor made that outlives the call, nothing read
 * back. Callers check canUpdateInPlace first. A read of p, m, v or t still in flight when this is called would cache
 * values older than the update (the engine awaits every read before the next step).
 */
export function adamwStepFused(step: FusedAdamWStep, entries: readonly AdamWEntry[]): void {
  for (const { p, g } of entries) {
    if (g.dtype !== 'float32' || g.size !== p.size) throw new Error(`AdamW: a gradient of shape [${g.shape}] (${g.dtype}) for a parameter of shape [${p.shape}]`);
  }
  const b: WebGpuBackendView = asWebGpu(tf.backend());
  const S = b.makeTensorInfo([4], 'float32');
  try {
    encodeDispatch(
      b, PREP, [step.t, step.ok, step.gradScale ?? step.ok, S],
      [{ type: 'float32', data: [step.beta1] }, { type: 'float32', data: [step.beta2] }, { type: 'int32', data: [step.gradScale ? 1 : 0] }],
      [1, 1, 1],
    );
    for (const { p, m, v, g } of entries) {
      // Constants as float32 uniforms: rounded as TF.js rounds the JS numbers the composition passes (1 − β1, lr, …).
      encodeDispatch(
        b, UPDATE, [p, m, v, g, S],
        [
          { type: 'float32', data: [1 - step.beta1] }, { type: 'float32', data: [1 - step.beta2] },
          { type: 'float32', data: [step.lr] }, { type: 'float32', data: [step.weightDecay] }, { type: 'float32', data: [step.eps] },
          { type: 'int32', data: [step.weightDecay > 0 && p.rank >= 2 ? 1 : 0] }, { type: 'int32', data: [p.size] },
        ],
        [Math.max(1, Math.min(MAX_WORKGROUPS, Math.ceil(p.size / WG))), 1, 1],
      );
    }
  } finally {
    b.disposeData(S.dataId);
  }
}
