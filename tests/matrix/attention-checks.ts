// The fused attention (src/engine/kernels/attention.ts) against the composed ops it replaces (model.ts's
// composedAttention, the path of every other backend) on webgpu: values and dq, dk, dv (through RoPE) on small shapes
// (head_dim 16 and 128, T not a multiple of the tile, GQA 2:1 and 4:1, packed rows, padding rows that attend nothing),
// a model with gradient checkpointing (the op inside tf.grads in a custom gradient), and dispatch and buffer counts at
// Qwen3-0.6B's attention width. Run in Chromium by tests/e2e/attention-kernel.spec.ts; engine modules and tfjs-core only.
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import '../../src/engine/register-gradients.ts';
import { flashAttention } from '../../src/engine/kernels/attention.ts';
import { setFusedKernels } from '../../src/engine/kernels/switch.ts';
import { instrumentDevice, type GpuCounts } from '../../src/engine/gpu-counters.ts';
import { attentionMask, composedAttention, Qwen3Model, rotary } from '../../src/engine/model.ts';
import { Rng } from '../../src/engine/rng.ts';
import { maxAbsDiff, memoryCounts, showCounts, testConfig } from './tiny-engine.ts';
import { ATTENTION_CHECK_NAMES, type AttentionCheckName } from './attention-check-names.ts';

/**
 * Tolerances, fused vs composed, both float32 on the same GPU: |fused − composed| ≤ ABS + REL · max|composed| per
 * tensor. The two differ only in summation order (tiled dot products, the online softmax's rescaling, exp(s − lse)
 * against softmax's exp(s − max)/sum), so agreement is near float32 roundoff: on SwiftShader the largest differences
 * measured were ~1e-6 for outputs and ~3e-6 for gradients of magnitude ~1. The bounds leave ~10x of that; an indexing
 * or masking error is off by the size of the values themselves.
 */
const ABS = 2e-5;
const REL = 2e-5;

class CheckFailure extends Error {}
function ensure(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new CheckFailure(message());
}

/** A case: segment ids per batch row (0 = padding); positions restart at 0 in each segment. */
interface Case {
  hd: number;
  nh: number;
  nkv: number;
  segments: number[][];
  seed: number;
}

/** Runs of (id, length) → one row of segment ids. */
const row = (...runs: [number, number][]) => runs.flatMap(([id, n]) => Array<number>(n).fill(id));

function positionsOf(seg: number[]): number[] {
  let p = 0;
  return seg.map((s, i) => (i > 0 && seg[i - 1] === s && s !== 0 ? ++p : (p = 0)));
}

interface Inputs {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  cos: tf.Tensor;
  sin: tf.Tensor;
  seg: tf.Tensor2D;
  mask: tf.Tensor;
  dy: tf.Tensor3D;
  /** Which (batch row, position) pairs are padding, flat over [B, T]. */
  padding: boolean[];
}

function makeInputs(c: Case): Inputs {
  const B = c.segments.length, T = c.segments[0].length;
  const seg = tf.tensor2d(c.segments.flat(), [B, T], 'int32');
  const pos = tf.tensor2d(c.segments.flatMap(positionsOf), [B, T], 'int32');
  const [cos, sin] = rotary(pos, T, c.hd, 1e6);
  const padding = c.segments.flat().map((s) => s === 0);
  const rng = new Rng(c.seed);
  const normal = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape, 'float32');
  // The loss reads no padding position (targets −100), so its gradient there is 0: dy is too.
  const dyData = Float32Array.from({ length: B * T * c.nh * c.hd }, (_, i) => (padding[Math.floor(i / (c.nh * c.hd))] ? 0 : rng.normal()));
  const inputs: Inputs = {
    q: normal([B, T, c.nh, c.hd]) as tf.Tensor4D,
    k: normal([B, T, c.nkv, c.hd]) as tf.Tensor4D,
    v: normal([B, T, c.nkv, c.hd]) as tf.Tensor4D,
    cos, sin, seg,
    mask: attentionMask(seg, seg, 0),
    dy: tf.tensor3d(dyData, [B, T, c.nh * c.hd]),
    padding,
  };
  pos.dispose();
  return inputs;
}

const disposeInputs = (x: Inputs) => tf.dispose([x.q, x.k, x.v, x.cos, x.sin, x.seg, x.mask, x.dy]);

/** o and dq, dk, dv of one path for upstream gradient dy. */
function run(x: Inputs, fused: boolean): tf.Tensor[] {
  const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
    fused
      ? flashAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, x.cos, x.sin, x.seg)
      : composedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, x.cos, x.sin, x.mask).o;
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => f(q, k, v))([x.q, x.k, x.v], x.dy);
    return [value, ...grads];
  });
}

/** Compares one tensor of the two paths on the rows `keep` says (flat [B, T] rows of `width` values each). */
function compare(what: string, fused: Float32Array, ref: Float32Array, width: number, keep: (row: number) => boolean): number {
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < fused.length; i++) if (keep(Math.floor(i / width))) (a.push(fused[i]), b.push(ref[i]));
  const scale = b.reduce((m, y) => Math.max(m, Math.abs(y)), 0);
  const { max, at } = maxAbsDiff(a, b);
  ensure(Number.isFinite(max) && max <= ABS + REL * scale, () =>
    `${what}: fused and composed differ by ${max} (fused ${a[at]}, composed ${b[at]}, largest |composed| ${scale}); allowed ${ABS} + ${REL}·${scale}`);
  return max;
}

/** Values and gradients of one case, fused vs composed; padding rows: fused o and dq exactly 0. */
async function kernelCase(c: Case): Promise<string> {
  const x = makeInputs(c);
  const start = memoryCounts();
  try {
    const fusedOut = run(x, true);
    const refOut = run(x, false);
    const [o, dq, dk, dv] = await Promise.all(fusedOut.map(async (t) => new Float32Array(await t.data())));
    const [ro, rdq, rdk, rdv] = await Promise.all(refOut.map(async (t) => new Float32Array(await t.data())));
    tf.dispose([...fusedOut, ...refOut]);
    ensure(memoryCounts().numTensors === start.numTensors, () => `tensors left behind: ${showCounts(start)} → ${showCounts(memoryCounts())}`);
    for (const [name, t] of [['o', o], ['dq', dq], ['dk', dk], ['dv', dv]] as const) {
      ensure(t.every(Number.isFinite), () => `fused ${name} has non-finite values`);
    }
    const live = (r: number) => !x.padding[r];
    const pad = (r: number) => x.padding[r];
    const hq = c.nh * c.hd, hkv = c.nkv * c.hd;
    const diffs = [
      compare('o', o, ro, hq, live),
      compare('dq', dq, rdq, hq, live),
      compare('dk', dk, rdk, hkv, () => true),
      compare('dv', dv, rdv, hkv, () => true),
    ];
    // Padding rows attend nothing: their output and their query's gradient are 0 (the composition's are finite garbage).
    for (const [name, t] of [['o', o], ['dq', dq]] as const) {
      const bad = t.findIndex((y, i) => pad(Math.floor(i / hq)) && y !== 0);
      ensure(bad < 0, () => `fused ${name} at padding row ${Math.floor(bad / hq)} is ${t[bad]}, not 0`);
    }
    return `max |fused − composed|: o ${diffs[0].toExponential(1)}, dq ${diffs[1].toExponential(1)}, dk ${diffs[2].toExponential(1)}, dv ${diffs[3].toExponential(1)}`;
  } finally {
    disposeInputs(x);
  }
}

/**
 * A NaN in the key of one token (batch row 0, position 5 of segment 1): every query of that segment at position ≥ 5
 * gives NaN, as the composition does (the trainer's non-finite check has to see it; a NaN score must not pass for a
 * masked one), and batch row 1, which never reads that token, stays finite.
 */
async function nanKey(): Promise<string> {
  const c: Case = { hd: 16, nh: 4, nkv: 2, segments: [row([1, 11], [2, 8]), row([1, 19])], seed: 4 };
  const x = makeInputs(c);
  const T = 19, j = 5;
  const kd = new Float32Array(await x.k.data());
  kd.fill(NaN, j * c.nkv * c.hd, (j + 1) * c.nkv * c.hd); // batch row 0, position j, every KV head
  const k = tf.tensor4d(kd, x.k.shape);
  try {
    const o = flashAttention(x.q, k, x.v, x.cos, x.sin, x.seg);
    const d = new Float32Array(await o.data());
    o.dispose();
    const w = c.nh * c.hd;
    for (let r = 0; r < 2 * T; r++) {
      const vals = d.subarray(r * w, (r + 1) * w);
      if (r < T && r >= j && c.segments[0][r] === 1) ensure(vals.every(Number.isNaN), () => `row ${r} attends the NaN key but its output is not all NaN`);
      if (r >= T) ensure(vals.every(Number.isFinite), () => `row ${r} (batch row 1) never reads the NaN key but is not finite`);
    }
    return `rows ${j}..10 of batch row 0 NaN, batch row 1 finite`;
  } finally {
    k.dispose();
    disposeInputs(x);
  }
}

/**
 * A one-layer model at head_dim 128 (GQA 4:1) whose training loss is differentiated with gradient checkpointing: the
 * fused op then runs inside tf.grads inside the layer's custom gradient. Every weight's gradient equals the composed
 * model's (no checkpointing) within the tolerance.
 */
async function recomputed(): Promise<string> {
  const config = testConfig({ hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 1, numAttentionHeads: 4, numKeyValueHeads: 1, headDim: 128, vocabSize: 48 });
  const model = Qwen3Model.random(config, 7);
  const segments = [row([1, 7], [2, 6]), row([1, 9], [0, 4])];
  const B = 2, T = 13;
  const inputs = {
    inputIds: tf.tensor2d(segments.flat().map((s, i) => (s === 0 ? 0 : 1 + ((i * 7) % 40))), [B, T], 'int32'),
    positionIds: tf.tensor2d(segments.flatMap(positionsOf), [B, T], 'int32'),
    segmentIds: tf.tensor2d(segments.flat(), [B, T], 'int32'),
  };
  // A fixed random projection of the hidden states, 0 at padding (a loss that is not invariant to the final norm).
  const rng = new Rng(5);
  const probe = tf.tensor(Float32Array.from({ length: B * T * config.hiddenSize }, (_, i) => (segments.flat()[Math.floor(i / config.hiddenSize)] === 0 ? 0 : rng.normal())), [B, T, config.hiddenSize]);
  const params = new Map(model.weights);
  const grads = async (fused: boolean) => {
    setFusedKernels(fused);
    try {
      const loss = () => tf.tidy(() => tf.sum(tf.mul(model.hidden(inputs, { recompute: fused ? { params } : undefined }), probe)) as tf.Scalar);
      const { value, grads: g } = tf.variableGrads(loss, [...params.values()]);
      value.dispose();
      const out = new Map<string, Float32Array>();
      for (const [name, v] of params) out.set(name, new Float32Array(await g[v.name].data()));
      tf.dispose(Object.values(g));
      return out;
    } finally {
      setFusedKernels(true);
    }
  };
  try {
    const fused = await grads(true);
    const ref = await grads(false);
    let worst = 0;
    for (const [name, r] of ref) {
      const g = fused.get(name)!;
      ensure(g.every(Number.isFinite), () => `${name}: the fused gradient has non-finite values`);
      const scale = r.reduce((m, y) => Math.max(m, Math.abs(y)), 0);
      const { max } = maxAbsDiff(g, r);
      ensure(max <= ABS + REL * scale, () => `${name}: fused (checkpointed) and composed gradients differ by ${max}, largest |composed| ${scale}; allowed ${ABS} + ${REL}·${scale}`);
      worst = Math.max(worst, max / (scale || 1));
    }
    return `largest gradient difference relative to the tensor's largest entry: ${worst.toExponential(1)}`;
  } finally {
    model.dispose();
    tf.dispose([inputs.inputIds, inputs.positionIds, inputs.segmentIds, probe]);
  }
}

/**
 * One attention forward and backward at Qwen3-0.6B's width (16 query and 8 KV heads of 128; T 16): GPU dispatches of
 * the composition vs the fused kernels (the [T, T] mask, built once per forward for all layers, not counted), each
 * counted on its second run, and no GPU buffer created by the fused one once warm (everything pooled).
 */
async function dispatchCounts(): Promise<string> {
  const x = makeInputs({ hd: 128, nh: 16, nkv: 8, segments: [row([1, 16])], seed: 11 });
  const counter = instrumentDevice((tf.backend() as WebGPUBackend).device);
  try {
    const measure = async (fused: boolean): Promise<GpuCounts> => {
      let counts: GpuCounts | undefined;
      for (let i = 0; i < 2; i++) {
        counter.reset();
        const out = run(x, fused);
        counts = counter.counts();
        await out[1].data(); // a read submits the queue: the pool gets its buffers back before the next run
        tf.dispose(out);
      }
      return counts!;
    };
    const composed = await measure(false);
    const fused = await measure(true);
    const line = `composed ${composed.dispatches} dispatches (${composed.buffersCreated} buffers created), fused ${fused.dispatches} (${fused.buffersCreated})`;
    ensure(fused.dispatches * 3 <= composed.dispatches, () => `fused attention takes more than 1/3 of the composition's dispatches: ${line}`);
    ensure(fused.buffersCreated === 0, () => `the warm fused attention created GPU buffers: ${line}`);
    return line;
  } finally {
    counter.restore();
    disposeInputs(x);
  }
}

const RUN: Record<AttentionCheckName, () => Promise<string>> = {
  'head_dim 16, GQA 2:1, T 19: packed rows and padding': () =>
    kernelCase({ hd: 16, nh: 4, nkv: 2, segments: [row([1, 11], [2, 8]), row([1, 13], [0, 6])], seed: 1 }),
  'head_dim 16, GQA 4:1, T 37: three query tiles, trailing padding': () =>
    kernelCase({ hd: 16, nh: 8, nkv: 2, segments: [row([3, 30], [0, 7])], seed: 2 }),
  'a NaN key: NaN in every row that attends it, other batch rows finite': nanKey,
  'head_dim 128, GQA 2:1, T 21: packed rows and padding': () =>
    kernelCase({ hd: 128, nh: 4, nkv: 2, segments: [row([1, 9], [2, 8], [0, 4]), row([5, 21])], seed: 3 }),
  'head_dim 128, GQA 4:1, T 13: inside recomputation (tf.grads in a custom gradient)': recomputed,
  'dispatches at Qwen3-0.6B width: fused at most 1/3 of the composition, no buffers created once warm': dispatchCounts,
};

/** Every check, in the order of ATTENTION_CHECK_NAMES; each resolves with a line worth printing. */
export const ATTENTION_CHECKS = ATTENTION_CHECK_NAMES.map((name) => ({ name, run: RUN[name] }));
