/**
 * AdamW (Loshchilov & Hutter 2019: decoupled weight decay, Adam bias correction) with global-norm clipping,
 * applied on the device with a 0/1 "finite" gate so that a non-finite step changes nothing, bit for bit, without a
 * sync; slots `{name}/m`, `{name}/v`; state export/import as plain Float32Arrays for checkpoints, slot by slot.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from './errors.ts';
import { adamwStepFused, canUpdateInPlace } from './kernels/adamw.ts';
import { fusedKernelsActive } from './kernels/switch.ts';

/** A named tensor as plain data (row-major). */
export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Everything an AdamW needs to continue exactly: the bias-correction step and the moments. */
export interface OptimizerState {
  /** Updates applied so far (skipped steps do not count). */
  step: number;
  /** `{name}/m` and `{name}/v` for every parameter. */
  slots: NamedArray[];
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class AdamW {
  /** Updates applied, as a device scalar (advanced by the finite gate, so skipped steps do not count). */
  private readonly t: tf.Variable;
  private readonly slots = new Map<string, { m: tf.Variable; v: tf.Variable }>();

  constructor(readonly opts: AdamWOptions) {
    this.t = tf.tidy(() => tf.variable(tf.scalar(0), false, `adamw/t/${uid++}`));
  }

  /**
   * One update: p ← p·(1 − lr·wd) − lr·m̂/(√v̂+ε) (decay on matrices only). `ok` is a 0/1 scalar; when it is 0 the step
   * leaves weights, moments and the step count bit for bit as they were, whatever the gradients or `gradScale` hold:
   * - the gradient's non-finite entries are zeroed (a same-shape select) and the gate is a scalar select, never
   *   ok·gradScale (0·NaN is NaN on cpu, webgl and webgpu; wasm's minimum hid it);
   * - with ok = 0 every increment is ±0: m + 0·(g − m) and v + 0·(g² − v) are m and v (never −0, so adding −0 keeps
   *   them), p·1 is p, and the weight step is made +0 (x·0 + 0) before it is subtracted, so even a −0 weight stays −0.
   * This costs no more than an unguarded step (a broadcast select over every parameter was 13× slower on wasm).
   * `grads[name]` must already be clipped or `gradScale` given; nothing is read back.
   * With the fused kernels on (webgpu) the same formula runs as one dispatch per parameter that rewrites p, m and v in
   * place and writes nothing at all when ok = 0 (kernels/adamw.ts); the code below is the composition, the reference.
   */
  apply(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number, ok: tf.Scalar, gradScale?: tf.Scalar): void {
    if (fusedKernelsActive()) {
      const entries = [...params].filter(([name]) => grads[name]).map(([name, p]) => ({ p, g: grads[name], ...this.slot(name, p) }));
      const step = { t: this.t, ok, gradScale, lr, ...this.opts };
      if (canUpdateInPlace(step, entries)) return adamwStepFused(step, entries);
    }
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    tf.tidy(() => {
      const keep = tf.greater(ok, 0);
      const on = tf.cast(keep, 'float32'); // exactly 0 or 1
      const gate = gradScale ? tf.where(keep, gradScale, tf.scalar(0)) : on; // a scalar select: 0 even when the scale is NaN
      const t = tf.add(this.t, on);
      const tSafe = tf.maximum(t, 1);
      const c1 = tf.div(1, tf.sub(1, tf.pow(tf.scalar(b1), tSafe))); // 1 / bias corrections
      const c2 = tf.div(1, tf.sub(1, tf.pow(tf.scalar(b2), tSafe)));
      const k1 = tf.mul(on, 1 - b1);
      const k2 = tf.mul(on, 1 - b2);
      const step = tf.mul(on, lr);
      const decay = tf.sub(1, tf.mul(step, weightDecay)); // decoupled: p ← p·(1 − lr·wd) − lr·update
      for (const [name, p] of params) {
        const g0 = grads[name];
        if (!g0) continue;
        const s = this.slot(name, p);
        // Small tidies so that at most a few parameter-sized temporaries live at once (the wasm heap is limited).
        const g = tf.tidy(() => tf.mul(tf.where(tf.isFinite(g0), g0, tf.zerosLike(g0)), gate));
        const m = tf.tidy(() => tf.add(s.m, tf.mul(k1, tf.sub(g, s.m))));
        const v = tf.tidy(() => tf.add(s.v, tf.mul(k2, tf.sub(tf.square(g), s.v))));
        g.dispose();
        s.m.assign(m);
        s.v.assign(v);
        const next = tf.tidy(() => {
          const upd = tf.div(tf.mul(m, c1), tf.add(tf.sqrt(tf.mul(v, c2)), eps));
          const delta = tf.add(tf.mul(upd, step), 0); // +0, never −0, on a skipped step
          return tf.sub(weightDecay > 0 && p.rank >= 2 ? tf.mul(p, decay) : p, delta);
        });
        tf.dispose([m, v]);
        p.assign(next);
        next.dispose();
      }
      this.t.assign(t);
    });
  }

  private slot(name: string, p: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let s = this.slots.get(name);
    if (!s) {
      s = tf.tidy(() => ({
        m: tf.variable(tf.zerosLike(p), false, `${name}/m#${uid++}`),
        v: tf.variable(tf.zerosLike(p), false, `${name}/v#${uid++}`),
      }));
      this.slots.set(name, s);
    }
    return s;
  }

  /** The state as plain data (reads the device). */
  async exportState(): Promise<OptimizerState> {
    const slots: NamedArray[] = [];
    for await (const a of this.slotArrays()) slots.push({ ...a, data: new Float32Array(a.data) });
    return { step: await this.readStep(), slots };
  }

  /** Updates applied so far (OptimizerState.step), read from the device. */
  async readStep(): Promise<number> {
    return (await this.t.data())[0];
  }

  /**
   * The slots as exportState lists them, read from the device one at a time when asked for (checkpoints stream
   * them so that only one is in memory). The data may share the backend's buffer: read it, do not modify it.
   */
  async *slotArrays(): AsyncGenerator<NamedArray> {
    for (const [name, s] of [...this.slots]) {
      yield { name: `${name}/m`, shape: s.m.shape.slice(), data: (await s.m.data()) as Float32Array };
      yield { name: `${name}/v`, shape: s.v.shape.slice(), data: (await s.v.data()) as Float32Array };
    }
  }

  /** Sets the updates-applied count (OptimizerState.step) of an imported state. */
  setStep(step: number): void {
    tf.tidy(() => this.t.assign(tf.scalar(step)));
  }

  /**
   * Imports one slot (`{param}/m` or `{param}/v`) of an exported state for parameter `p`, checking its shape; the
   * data goes to the device and is not kept. Resume streams slots through this one at a time.
   */
  importSlot(slot: NamedArray, params: ReadonlyMap<string, tf.Variable>): void {
    const match = /^(.*)\/([mv])$/.exec(slot.name);
    const p = match ? params.get(match[1]) : undefined;
    if (!match || !p) throw new CheckpointError(`optimizer slot ${slot.name} belongs to no trained parameter`, undefined, slot.name);
    if (slot.shape.join(',') !== p.shape.join(',') || slot.data.length !== p.size) {
      throw new CheckpointError(`optimizer slot ${slot.name} has shape [${slot.shape}], expected [${p.shape}]`, undefined, slot.name);
    }
    const s = this.slot(match[1], p as tf.Variable);
    tf.tidy(() => (match[2] === 'm' ? s.m : s.v).assign(tf.tensor(slot.data, p.shape, 'float32')));
  }

  /** Replaces the state with an exported one; `params` checks names and shapes. */
  importState(state: OptimizerState, params: Map<string, tf.Variable>): void {
    const names = new Set(state.slots.map((s) => s.name));
    for (const name of params.keys()) {
      const has = [`${name}/m`, `${name}/v`].filter((n) => names.has(n));
      if (has.length === 1) throw new CheckpointError(`optimizer state lacks slot ${names.has(`${name}/m`) ? `${name}/v` : `${name}/m`}`, undefined, name);
    }
    for (const slot of state.slots) if (params.has(slot.name.replace(/\/[mv]$/, ''))) this.importSlot(slot, params);
    this.setStep(state.step);
  }

  /**
   * After a parameter grew (a vocabulary resized in place), its moments are zero-padded on the device to the new
   * shape: new rows or columns start without history, and nothing passes through the host.
   */
  growSlots(params: ReadonlyMap<string, tf.Variable>): void {
    for (const [name, s] of this.slots) {
      const p = params.get(name);
      if (!p || p.shape.join(',') === s.m.shape.join(',')) continue;
      if (p.rank !== s.m.rank || p.shape.some((d, i) => d < s.m.shape[i])) {
        throw new Error(`cannot grow optimizer slots of ${name} from [${s.m.shape}] to [${p.shape}]`);
      }
      const pad = p.shape.map((d, i) => [0, d - s.m.shape[i]] as [number, number]);
      const grown = tf.tidy(() => ({
        m: tf.variable(tf.pad(s.m, pad), false, `${name}/m#${uid++}`),
        v: tf.variable(tf.pad(s.v, pad), false, `${name}/v#${uid++}`),
      }));
      s.m.dispose();
      s.v.dispose();
      this.slots.set(name, grown);
    }
  }

  /** Parameters that have moments (trained at least once or imported). */
  get slotNames(): string[] {
    return [...this.slots.keys()];
  }

  dispose(): void {
    this.t.dispose();
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
  }
}

let uid = 0;

/**
 * The global L2 norm of `grads` and the factor min(1, maxNorm / norm) that clips it (1 when maxNorm = 0).
 * Both are device scalars; a non-finite gradient gives a non-finite norm and scale (callers gate on the norm:
 * AdamW.apply discards such a step with a select, never by multiplying with 0).
 */
export function globalNormClip(grads: readonly tf.Tensor[], maxNorm: number): { norm: tf.Scalar; scale: tf.Scalar } {
  return tf.tidy(() => {
    const sq = grads.map((g) => tf.tidy(() => tf.sum(tf.square(g))));
    // A sum over a stack, not addN: TF.js's webgpu AddN binds one storage buffer per input and, past the device's
    // limit (8 by default), its pipeline is invalid and the whole submit is dropped without an error.
    const norm = tf.sqrt(sq.length ? tf.sum(tf.stack(sq)) : tf.scalar(0)) as tf.Scalar;
    const scale = (maxNorm > 0 ? tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))) : tf.scalar(1)) as tf.Scalar;
    return { norm, scale };
  });
}

/** 1 when every given scalar is finite, else 0 (float32 scalar). */
export function finiteGate(...xs: tf.Scalar[]): tf.Scalar {
  return tf.tidy(() => {
    let ok: tf.Tensor = tf.scalar(true, 'bool');
    for (const x of xs) ok = tf.logicalAnd(ok, tf.isFinite(x));
    return tf.cast(ok, 'float32') as tf.Scalar;
  });
}
