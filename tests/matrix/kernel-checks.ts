// The fused kernels (src/engine/kernels) against the composition they replace, on webgpu: forward values and gradients
// of RMSNorm and SwiGLU, AdamW's applied and skipped steps, and the dispatches they save. Each check flips the fused
// switch to get both paths on the same backend, throws one clear Error on failure, and returns a line of what it
// measured. Run in Chromium by tests/e2e/fused-kernels.spec.ts; engine modules and tfjs-core only.
import * as tf from '@tensorflow/tfjs-core';
import '../../src/engine/register-gradients.ts';
import { setFusedKernels } from '../../src/engine/kernels/switch.ts';
import { rmsNorm } from '../../src/engine/kernels/rms-norm.ts';
import { swiglu } from '../../src/engine/kernels/swiglu.ts';
import { AdamW, finiteGate } from '../../src/engine/optimizer.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import type { GpuCounter, GpuCounts } from '../../src/engine/gpu-counters.ts';
import { Rng } from '../../src/engine/rng.ts';
import { PAD, byteDifferences, bytesOfAll, memoryCounts, showCounts, sourceOf, syntheticExamples, testConfig, tinyTrainConfig } from './tiny-engine.ts';
import { runJob } from '../../src/engine/train.ts';
import { KERNEL_CHECK_NAMES, type KernelCheckName } from './kernel-check-names.ts';

export interface KernelContext {
  /** Counts what the backend's GPUDevice is asked to do (gpu-counters.ts, instrumented once the backend started). */
  counter: GpuCounter;
}

export interface KernelCheck {
  name: KernelCheckName;
  /** Resolves with what it measured (errors against the tolerances, dispatch counts). */
  run(ctx: KernelContext): Promise<string>;
}

// ---------------------------------------------------------------- helpers

function ensure(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new Error(`[${tf.getBackend()}] ${message()}`);
}

/** f with the fused kernels on or off; the switch is back on (its default) afterwards. */
function withFused<T>(on: boolean, f: () => T): T {
  setFusedKernels(on);
  try {
    return f();
  } finally {
    setFusedKernels(true);
  }
}

/** withFused for an async f: the switch stays as set until f has settled. */
async function withFusedAsync<T>(on: boolean, f: () => Promise<T>): Promise<T> {
  setFusedKernels(on);
  try {
    return await f();
  } finally {
    setFusedKernels(true);
  }
}

/** A host tensor of standard normals times `scale` (plus `shift`), from a seeded generator. */
function normal(shape: number[], seed: number, scale = 1, shift = 0): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => shift + scale * rng.normal());
}

/**
 * The largest |got − want| over a row of `width` values divided by that row's largest |want| (a whole tensor when
 * width is its size): rounding error relative to the scale it lives at, so rows of very different size (a zero row's
 * dx is 1000× the others) are each judged at their own scale. Rows that are zero in `want` must be zero in `got`.
 */
function relError(got: Float32Array, want: Float32Array, width: number): { err: number; at: number } {
  let worst = 0, at = -1;
  for (let r = 0; r < want.length; r += width) {
    let scale = 0;
    for (let i = r; i < r + width; i++) scale = Math.max(scale, Math.abs(want[i]));
    for (let i = r; i < r + width; i++) {
      const d = Math.abs(got[i] - want[i]);
      const e = scale > 0 ? d / scale : d > 0 ? Infinity : 0;
      if (Number.isNaN(e)) return { err: NaN, at: i }; // any NaN fails (these inputs give none on either path)
      if (e > worst) (worst = e), (at = i);
    }
  }
  return { err: worst, at };
}

/** Compares named outputs of the fused and the composed path; returns "what: name err, …" for the log and the worst error. */
async function compare(what: string, fused: tf.Tensor[], composed: tf.Tensor[], names: string[], widths: number[], tol: number[]): Promise<{ text: string; worst: number }> {
  const out: string[] = [];
  let worst = 0;
  for (let i = 0; i < names.length; i++) {
    ensure(fused[i].shape.join() === composed[i].shape.join(), () => `${what} ${names[i]}: shape [${fused[i].shape}], the composition's [${composed[i].shape}]`);
    const got = (await fused[i].data()) as Float32Array, want = (await composed[i].data()) as Float32Array;
    const { err, at } = relError(got, want, widths[i]);
    ensure(err <= tol[i], () => `${what} ${names[i]}[${at}]: fused ${got[at]}, composed ${want[at]}: relative error ${err.toExponential(2)} > ${tol[i]}`);
    out.push(`${names[i]} ${err.toExponential(1)}`);
    worst = Math.max(worst, err);
  }
  return { text: `${what}: ${out.join(', ')}`, worst };
}

// ---------------------------------------------------------------- RMSNorm

// Tolerances, relative to each row's (or, for dw, the tensor's) largest value: float32 rounds at 6e-8, and the two paths
// sum Σx² (and, backward, Σ dy·w·x per row and dw over up to 66k rows) in different orders, so reductions of n terms
// differ by up to ~n·6e-8 in the worst case and ~√n·6e-8 typically. Measured at most ~1e-6 (y, dx) and ~1e-6 (dw).
const NORM_TOL = { y: 1e-5, dx: 2e-5, dw: 2e-5 };
const EPS = 1e-6;

/**
 * x [..., H] with rows `zeroRows` all zero (r = 1/√eps: padding-like rows) and cotangent rows `maskedRows` zero (masked
 * positions): y, dx and dw of the fused kernel against the composition.
 */
async function rmsNormCase(shape: number[], seed: number, zeroRows: number[], maskedRows: number[]): Promise<string> {
  const H = shape[shape.length - 1];
  const xs = normal(shape, seed), dys = normal(shape, seed + 1), ws = normal([H], seed + 2, 0.3, 1);
  for (const r of zeroRows) xs.fill(0, r * H, (r + 1) * H);
  for (const r of maskedRows) dys.fill(0, r * H, (r + 1) * H);
  const x = tf.tensor(xs, shape), dy = tf.tensor(dys, shape), w = tf.tensor1d(ws);
  const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => {
    const y = rmsNorm(x, w, EPS);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => rmsNorm(a, b, EPS))([x, w], dy);
    return [y, dx, dw];
  }));
  const fused = run(true), composed = run(false);
  try {
    return (await compare(`[${shape}]`, fused, composed, ['y', 'dx', 'dw'], [H, H, H], [NORM_TOL.y, NORM_TOL.dx, NORM_TOL.dw])).text;
  } finally {
    tf.dispose([x, dy, w, ...fused, ...composed]);
  }
}

async function rmsNormMatches(): Promise<string> {
  const lines = [
    // hidden sizes that are not multiples of the 64-thread workgroup; T = 5 and 3; a zero row and a masked row
    await rmsNormCase([2, 5, 72], 1, [3], [7]),
    await rmsNormCase([1, 3, 1030], 2, [], [1]),
    // per-head q/k norms over head_dim: 4 and 2 heads of 16, 2 heads of 128
    await rmsNormCase([2, 7, 4, 16], 3, [5, 40], [11]),
    await rmsNormCase([1, 5, 2, 128], 4, [0], []),
    // 1202 rows: blocks of 3 rows in the backward pass, the last block short. (Past 65535 rows the forward's grid goes
    // 2-D; [1, 4100, 16, 16] passed with the errors of the cases here but takes ~25 s on SwiftShader, so it is not run.)
    await rmsNormCase([1, 601, 2, 16], 5, [1201], [0]),
  ];
  return lines.join('; ');
}

// ---------------------------------------------------------------- SwiGLU

// The fused kernel evaluates the composition's own operations in its order (the sigmoid is TF.js's formula), so only
// a compiler's contraction into fused multiply-adds can move a result: a few units in the last place.
const SWIGLU_TOL = 1e-6;

async function swigluCase(shape: number[], seed: number): Promise<string> {
  const gs = normal(shape, seed, 3), ups = normal(shape, seed + 1), dys = normal(shape, seed + 2);
  gs.set([-100, -30, -17, 0, -0, 17, 30, 100, 89]); // a saturated sigmoid both ways (exp overflows at g < −88)
  const gate = tf.tensor(gs, shape), up = tf.tensor(ups, shape), dy = tf.tensor(dys, shape);
  const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => {
    const y = swiglu(gate, up);
    const [dg, du] = tf.grads((a: tf.Tensor, b: tf.Tensor) => swiglu(a, b))([gate, up], dy);
    return [y, dg, du];
  }));
  const fused = run(true), composed = run(false);
  try {
    const n = gate.size;
    return (await compare(`[${shape}]`, fused, composed, ['y', 'dgate', 'dup'], [n, n, n], [SWIGLU_TOL, SWIGLU_TOL, SWIGLU_TOL])).text;
  } finally {
    tf.dispose([gate, up, dy, ...fused, ...composed]);
  }
}

async function swigluMatches(): Promise<string> {
  // sizes that are not multiples of the 256-thread workgroup
  return [await swigluCase([2, 5, 300], 11), await swigluCase([3, 7, 96], 12)].join('; ');
}

// ---------------------------------------------------------------- the kernels in the model

// Through a whole model the two paths' rounding differences (those of RMSNorm above; attention when fused) pass through
// every later layer and the backward pass, so gradients are compared at 1e-4 of each tensor's largest entry.
const MODEL_TOL = 1e-4;

/**
 * Gradients of a 2-layer model (hidden 48, intermediate 100, 4 query / 2 KV heads of 16) under gradient checkpointing,
 * which runs the layers again inside a custom gradient and differentiates them with tf.grads: fused against composed,
 * once for every weight and once for the linears only (the norm weights are constants then, so the fused norm's dw is
 * computed and dropped), with no tensor left behind. Row 2 is one sequence then padding.
 */
async function checkpointedGradients(): Promise<string> {
  const model = Qwen3Model.random(testConfig({ hiddenSize: 48, intermediateSize: 100, headDim: 16, vocabSize: 40 }), 8);
  const rows = [[1, 5, 5, 9, 1, 2, 7], [3, 8, 8, 2, 0, 0, 0]];
  const x = {
    inputIds: tf.tensor2d(rows.flat(), [2, 7], 'int32'),
    positionIds: tf.tensor2d([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 0, 0, 0], [2, 7], 'int32'),
    segmentIds: tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [2, 7], 'int32'),
  };
  // The loss's cotangent: zero at the padding (masked out of the loss there; what attention gives a fully masked row is
  // not defined the same way by every path, and nothing reads it).
  const r = normal([2, 7, 48], 77);
  r.fill(0, (7 + 4) * 48);
  const R = tf.tensor(r, [2, 7, 48]);
  const out: string[] = [];
  try {
    for (const linearsOnly of [false, true]) {
      const trained = new Map([...model.weights].filter(([n]) => !linearsOnly || n.endsWith('_proj.weight')));
      const grads = (fused: boolean) => withFused(fused, () => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.hidden(x, { recompute: { params: trained } }), R)) as tf.Scalar, [...trained.values()]);
        value.dispose();
        return [...trained.values()].map((v) => grads[v.name]);
      });
      const m0 = memoryCounts();
      const fused = grads(true);
      ensure(memoryCounts().numTensors === m0.numTensors + trained.size, () => `${linearsOnly ? 'linears only' : 'every weight'}: the fused backward left ${memoryCounts().numTensors - m0.numTensors - trained.size} tensors behind`);
      const composed = grads(false);
      try {
        const { worst } = await compare(linearsOnly ? 'linears only' : 'every weight', fused, composed, [...trained.keys()], fused.map((t) => t.size), fused.map(() => MODEL_TOL));
        out.push(`${linearsOnly ? 'linears only' : 'every weight'} (${trained.size} tensors): worst ${worst.toExponential(1)}`);
      } finally {
        tf.dispose([...fused, ...composed]);
      }
    }
    return out.join('; ');
  } finally {
    tf.dispose([x.inputIds, x.positionIds, x.segmentIds, R]);
    model.dispose();
  }
}

// ---------------------------------------------------------------- AdamW

const ADAM = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
/** Rank 2 (decayed) and rank 1 (not), sizes that are not multiples of the 256-thread workgroup. */
const PARAM_SHAPES: [string, number[]][] = [['w', [33, 70]], ['norm', [37]], ['big', [300, 257]]];

let uid = 0;
function params(seed: number): Map<string, tf.Variable> {
  // Made in a tidy, as the model makes its weights: each variable then holds its buffer alone (else the update composes).
  return new Map(PARAM_SHAPES.map(([n, s], i) => [n, tf.tidy(() => tf.variable(tf.tensor(normal(s, seed + i, 0.5), s), true, `${n}#${uid++}`))]));
}

function gradsOf(seed: number, poison = false): Record<string, tf.Tensor> {
  return Object.fromEntries(PARAM_SHAPES.map(([n, s], i) => {
    const g = normal(s, 100 * seed + i, 0.1);
    if (poison) g.set([NaN, Infinity, -Infinity, NaN]);
    return [n, tf.tensor(g, s)];
  }));
}

/** Everything a step may change, as bytes: the weights, the moments (exportState) and the step count. */
async function stateBytes(p: Map<string, tf.Variable>, opt: AdamW): Promise<{ params: Map<string, Uint8Array>; slots: Map<string, Uint8Array>; step: number }> {
  const s = await opt.exportState();
  return { params: await bytesOfAll(p), slots: new Map(s.slots.map((x) => [x.name, new Uint8Array(x.data.buffer.slice(0))])), step: s.step };
}

/** The trainer's 0/1 gate for a loss of `x` (finiteGate). */
const tidyGate = (x: number) => tf.tidy(() => finiteGate(tf.scalar(x)));

// An applied step runs the composition's formula with the same float32 constants; GPU compilers may contract a·b + c
// into one fused multiply-add, which moves m and v by an ulp and p by an ulp of lr·update.
const ADAM_TOL = 1e-6;

async function adamwApplied(): Promise<string> {
  const pc = params(1), pf = params(1);
  const oc = new AdamW(ADAM), of = new AdamW(ADAM);
  const out: string[] = [];
  try {
    for (let step = 1; step <= 3; step++) {
      const g = gradsOf(step);
      // The trainer's gate (finiteGate: a bool cast to float32, so its buffer holds an i32 1), or a float32 1.
      const ok = step === 2 ? tf.scalar(1) : tidyGate(1), scale = step === 2 ? undefined : tf.scalar(0.7);
      const ids = [...pf.values()].map((v) => v.dataId);
      const before = memoryCounts();
      withFused(false, () => oc.apply(pc, g, 1e-2, ok, scale));
      const afterComposed = memoryCounts();
      of.apply(pf, g, 1e-2, ok, scale);
      const afterFused = memoryCounts();
      tf.dispose([ok, scale, ...Object.values(g)]);
      ensure([...pf.values()].every((v, i) => v.dataId === ids[i]), () => `step ${step}: the fused update replaced a weight's data instead of writing it in place`);
      // The first step makes the moments (two tensors a parameter, in either path); after that neither path adds any.
      const made = step === 1 ? 2 * pf.size : 0;
      ensure(afterComposed.numTensors === before.numTensors + made && afterFused.numTensors === afterComposed.numTensors + made, () =>
        `step ${step}: tf.memory() went ${showCounts(before)} → ${showCounts(afterComposed)} (composed) → ${showCounts(afterFused)} (fused)`);
      // Reading every value also leaves a host copy in the backend: the next in-place step must not be read back stale.
      const c = await oc.exportState(), f = await of.exportState();
      ensure(c.step === step && f.step === step, () => `after step ${step} the step counts are ${c.step} (composed) and ${f.step} (fused)`);
      const fused = [...pf.values(), ...f.slots.map((s) => tf.tensor(s.data))], composed = [...pc.values(), ...c.slots.map((s) => tf.tensor(s.data))];
      const names = [...pf.keys(), ...f.slots.map((s) => s.name)];
      try {
        const { worst } = await compare(`step ${step}`, fused, composed, names, fused.map((t) => t.size), names.map(() => ADAM_TOL));
        out.push(`step ${step}${scale ? ' (clip 0.7)' : ''}${step === 2 ? ' (float32 gate)' : ''}: worst ${worst.toExponential(1)} over ${names.length} tensors`);
      } finally {
        tf.dispose([...fused.slice(pf.size), ...composed.slice(pc.size)]);
      }
    }
    // A variable that shares its buffer with a tensor still alive (made outside a tidy) is not written in place: the
    // update composes (replacing the variable's data) and the tensor keeps its values.
    const init = tf.tensor(normal([5, 7], 99), [5, 7]);
    const shared = tf.variable(init, true, `shared#${uid++}`);
    try {
      const was = new Float32Array(await init.data());
      const g = { shared: tf.tensor(normal([5, 7], 98), [5, 7]) }, ok = tf.scalar(1);
      of.apply(new Map([['shared', shared]]), g, 1e-2, ok);
      tf.dispose([ok, g.shared]);
      const now = await init.data(), updated = await shared.data();
      ensure(now.every((x, i) => Object.is(x, was[i])), () => 'the update wrote into a buffer the variable shares with another tensor');
      ensure(updated.some((x, i) => x !== was[i]), () => 'the variable sharing its buffer was not updated');
    } finally {
      tf.dispose([init, shared]);
    }
    out.push('a variable sharing its buffer composed');
    return out.join('; ');
  } finally {
    for (const v of [...pc.values(), ...pf.values()]) v.dispose();
    oc.dispose();
    of.dispose();
  }
}

/**
 * After two applied steps (moments not zero), skipped steps (ok = 0) with NaN and ±Inf gradient entries, a NaN or no
 * clip factor, and −0 and NaN weights: every bit of the weights and the moments, and the step count, stay as they were.
 */
async function adamwSkipped(): Promise<string> {
  const p = params(7);
  const opt = new AdamW(ADAM);
  try {
    for (let step = 1; step <= 2; step++) {
      const g = gradsOf(step), ok = tidyGate(1);
      opt.apply(p, g, 1e-2, ok);
      tf.dispose([ok, ...Object.values(g)]);
    }
    for (const v of p.values()) {
      const d = new Float32Array(await v.data());
      d.set([-0, -0, NaN, 0], 1);
      tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
    }
    const before = await stateBytes(p, opt);
    const ids = [...p.values()].map((v) => v.dataId);
    for (const scale of [tf.scalar(NaN), undefined, tf.scalar(0.5)]) {
      const g = gradsOf(9, true), ok = scale ? tidyGate(NaN) : tf.scalar(0); // the trainer's gate (bool-backed), or a float32 0
      opt.apply(p, g, 1e-2, ok, scale);
      tf.dispose([ok, scale, ...Object.values(g)]);
      ensure([...p.values()].every((v, i) => v.dataId === ids[i]), () => 'the skipped step did not run the fused (in-place) update');
      const after = await stateBytes(p, opt);
      const changed = [...byteDifferences('weight', before.params, after.params), ...byteDifferences('moment', before.slots, after.slots)];
      if (after.step !== before.step) changed.push(`step count ${before.step} → ${after.step}`);
      ensure(changed.length === 0, () => `a skipped step (clip factor ${scale ? 'given' : 'absent'}) changed: ${changed.join('; ')}`);
    }
    // And the next applied step still applies (the skip left the optimizer usable).
    const g = gradsOf(3), ok = tf.scalar(1);
    opt.apply(p, g, 1e-2, ok);
    tf.dispose([ok, ...Object.values(g)]);
    const next = await stateBytes(p, opt);
    ensure(next.step === before.step + 1 && byteDifferences('weight', before.params, next.params).length > 0, () => `the applied step after the skipped ones: step ${before.step} → ${next.step}`);
    return `3 skipped steps bit-identical (${[...p.values()].reduce((s, v) => s + v.size, 0)} weights), then an applied one`;
  } finally {
    for (const v of p.values()) v.dispose();
    opt.dispose();
  }
}

// ---------------------------------------------------------------- dispatches

/** Qwen3-0.6B's layer: hidden 1024, intermediate 3072, 16 query and 8 KV heads of 128. A few tokens: counts do not depend on T. */
const WIDTH = { H: 1024, I: 3072, hd: 128, nh: 16, nkv: 8, tokens: 4 };

/**
 * A layer's 11 parameters (names, ranks and proportions of Qwen3's) at hidden H. The dispatch counts do not depend on the
 * sizes (one dispatch covers any size either way); at 1024 the composed update takes ~14 s a step on SwiftShader, so the
 * test uses 1/16 of it. Measured at full width: 230 composed, 12 fused.
 */
function layerParams(H: number): [string, number[]][] {
  const hd = H / 8, I = 3 * H, q = 16 * hd, kv = 8 * hd;
  return [
    ['input_layernorm', [H]], ['q_proj', [H, q]], ['k_proj', [H, kv]], ['v_proj', [H, kv]], ['q_norm', [hd]], ['k_norm', [hd]],
    ['o_proj', [q, H]], ['post_attention_layernorm', [H]], ['gate_proj', [H, I]], ['up_proj', [H, I]], ['down_proj', [I, H]],
  ];
}
const LAYER_PARAMS = layerParams(WIDTH.H / 16);

/** What `f` asks of the device once warm (run `warm` times, then counted); `f` leaves nothing behind. */
async function counted(counter: GpuCounter, f: () => tf.Tensor[], warm = 1): Promise<GpuCounts> {
  const flush = async (ts: tf.Tensor[]) => {
    if (ts.length) await ts[0].data(); // submits what is recorded, so every later encoder is a counted one
    tf.dispose(ts);
  };
  for (let i = 0; i < warm; i++) await flush(f());
  counter.reset();
  const ts = f();
  const c = counter.counts();
  await flush(ts);
  return c;
}

async function dispatchCounts({ counter }: KernelContext): Promise<string> {
  const { H, I, hd, nh, tokens } = WIDTH;
  const x = tf.randomNormal([1, tokens, H], 0, 1, 'float32', 1), w = tf.randomNormal([H], 1, 0.1, 'float32', 2);
  const q = tf.randomNormal([1, tokens, nh, hd], 0, 1, 'float32', 3), wq = tf.randomNormal([hd], 1, 0.1, 'float32', 4);
  const gate = tf.randomNormal([tokens, I], 0, 1, 'float32', 5), up = tf.randomNormal([tokens, I], 0, 1, 'float32', 6);
  const dyH = tf.randomNormal(x.shape, 0, 1, 'float32', 7), dyQ = tf.randomNormal(q.shape, 0, 1, 'float32', 8), dyI = tf.randomNormal(gate.shape, 0, 1, 'float32', 9);
  const norm = (a: tf.Tensor, b: tf.Tensor, dy: tf.Tensor) => () => tf.grads((u: tf.Tensor, v: tf.Tensor) => rmsNorm(u, v, EPS))([a, b], dy);
  const cases: [string, () => tf.Tensor[]][] = [
    ['norm fwd', () => [rmsNorm(x, w, EPS)]],
    ['norm fwd+bwd', norm(x, w, dyH)],
    ['head norm fwd+bwd', norm(q, wq, dyQ)],
    ['SwiGLU fwd', () => [swiglu(gate, up)]],
    ['SwiGLU fwd+bwd', () => tf.grads((a: tf.Tensor, b: tf.Tensor) => swiglu(a, b))([gate, up], dyI)],
  ];
  const lines: string[] = [];
  const fail: string[] = [];
  try {
    for (const [what, f] of cases) {
      const composed = await withFusedAsync(false, () => counted(counter, f));
      const fused = await counted(counter, f);
      lines.push(`${what} ${composed.dispatches} → ${fused.dispatches}`);
      if (fused.dispatches * 3 > composed.dispatches) fail.push(`${what}: ${fused.dispatches} fused dispatches vs ${composed.dispatches} composed`);
      if (fused.buffersCreated > 0) fail.push(`${what}: the warm fused path created ${fused.buffersCreated} buffers`);
    }
  } finally {
    tf.dispose([x, w, q, wq, gate, up, dyH, dyQ, dyI]);
  }
  // AdamW over one layer's parameters: warm (slots made by a first step), then one step counted per path.
  const layer = (seed: number) => new Map(LAYER_PARAMS.map(([n, s], i) => [n, tf.tidy(() => tf.variable(tf.randomNormal(s, 0, 0.02, 'float32', seed + i), true, `${n}#${uid++}`))]));
  const grads = Object.fromEntries(LAYER_PARAMS.map(([n, s], i) => [n, tf.randomNormal(s, 0, 1e-3, 'float32', 50 + i)]));
  const ok = tf.scalar(1), scale = tf.scalar(0.5);
  const adam = async (fused: boolean) => {
    const p = layer(fused ? 20 : 30), opt = new AdamW(ADAM);
    try {
      // Warm twice: the first step also makes the moments (fills that move where TF.js submits, so fewer of the step's
      // pooled uniform buffers were in flight at once). The clone (no dispatch) is read after each step, which submits.
      return await withFusedAsync(fused, () => counted(counter, () => (opt.apply(p, grads, 1e-4, ok, scale), [tf.clone(p.get('q_proj')!)]), 2));
    } finally {
      for (const v of p.values()) v.dispose();
      opt.dispose();
    }
  };
  try {
    const composed = await adam(false), fused = await adam(true);
    lines.push(`AdamW (${LAYER_PARAMS.length} parameters) ${composed.dispatches} → ${fused.dispatches}, buffers created ${composed.buffersCreated} → ${fused.buffersCreated}`);
    if (fused.dispatches !== LAYER_PARAMS.length + 1) fail.push(`AdamW: ${fused.dispatches} fused dispatches for ${LAYER_PARAMS.length} parameters (expected one each and one for the step's scalars)`);
    if (fused.dispatches * 3 > composed.dispatches) fail.push(`AdamW: ${fused.dispatches} fused dispatches vs ${composed.dispatches} composed`);
    if (fused.buffersCreated > 0) fail.push(`AdamW: the warm fused step created ${fused.buffersCreated} buffers`);
  } finally {
    tf.dispose([ok, scale, ...Object.values(grads)]);
  }
  ensure(fail.length === 0, () => fail.join('; '));
  return lines.join('; ');
}

/**
 * runJob on a small model, fused and composed on the same data: from the third step on, a fused step creates no GPU
 * buffer (TF.js's own upload path takes a fresh staging buffer for every tensor with host values: the batch's ids,
 * targets, segments, positions and the step's scalars), and its losses are the composed path's.
 */
async function trainingStepBuffers({ counter }: KernelContext): Promise<string> {
  const steps = 5;
  const examples = syntheticExamples(8, 3, { vocab: 40, len: 12 });
  const run = (fused: boolean) => withFusedAsync(fused, async () => {
    const model = Qwen3Model.random(testConfig({ hiddenSize: 32, intermediateSize: 48, headDim: 16, vocabSize: 40 }), 5);
    const created: number[] = [], losses: number[] = [];
    const r = await runJob(
      { model, source: sourceOf(examples), config: tinyTrainConfig({ fusedKernels: fused, seed: 3 }), padTokenId: PAD, steps },
      {
        beforeStep: () => (counter.reset(), 'continue'),
        onLog: (m) => {
          created.push(counter.counts().buffersCreated); // the step has been read back: everything it asked is counted
          losses.push(m.loss);
        },
      },
    );
    r.optimizer.dispose();
    model.dispose();
    return { created, losses };
  });
  const composed = await run(false), fused = await run(true);
  const worst = Math.max(...fused.losses.map((l, i) => Math.abs(l - composed.losses[i]) / Math.max(1e-6, Math.abs(composed.losses[i]))));
  const line = `buffers created per step: fused ${fused.created.join(', ')}; composed ${composed.created.join(', ')}; worst relative loss difference ${worst.toExponential(1)}`;
  ensure(fused.created.slice(2).every((n) => n === 0), () => `a warm fused training step created buffers: ${line}`);
  ensure(worst <= 1e-5, () => `the fused losses differ from the composed ones: ${line}`);
  return line;
}

// ---------------------------------------------------------------- the list

const RUN: Record<KernelCheckName, (ctx: KernelContext) => Promise<string>> = {
  'RMSNorm: values and gradients equal the composition (hidden sizes, head_dim 16 and 128, zero rows)': rmsNormMatches,
  'SwiGLU: values and gradients equal the composition (odd sizes, saturated sigmoid)': swigluMatches,
  'a model with gradient checkpointing: gradients equal the composition, frozen norms included': checkpointedGradients,
  'AdamW: an applied step equals the composition, in place': adamwApplied,
  'AdamW: a skipped step leaves weights, moments and the step count bit-identical': adamwSkipped,
  'dispatches: fused at most 1/3 of the composition (norms, SwiGLU at 0.6B width; AdamW over a layer), no buffers created once warm': dispatchCounts,
  'a whole training step creates no buffers once warm (pooled uploads), losses as composed': trainingStepBuffers,
};

export const KERNEL_CHECKS: readonly KernelCheck[] = KERNEL_CHECK_NAMES.map((name) => ({ name, run: RUN[name] }));
