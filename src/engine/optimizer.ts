/**
 * AdamW (Loshchilov & Hutter 2019: decoupled weight decay, Adam bias correction) with global-norm clipping,
 * applied on the device with a 0/1 "finite" gate so that a non-finite step changes nothing without a sync;
 * slots `{name}/m`, `{name}/v`; state export/import as plain Float32Arrays for checkpoints.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from './errors.ts';

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
    this.t = tf.variable(tf.scalar(0), false, `adamw/t/${uid++}`);
  }

  /**
   * One update: p ← p − ok·lr·(m̂/(√v̂+ε) + wd·p) (wd on matrices only), m and v unchanged when ok = 0.
   * `grads[name]` must already be clipped or `gradScale` given; `ok` is a 0/1 scalar; nothing is read back.
   */
  apply(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number, ok: tf.Scalar, gradScale?: tf.Scalar): void {
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    tf.tidy(() => {
      const gate = gradScale ? tf.mul(ok, gradScale) : ok; // 0 on a skipped step
      const t = tf.add(this.t, ok);
      const tSafe = tf.maximum(t, 1);
      const c1 = tf.div(1, tf.sub(1, tf.pow(tf.scalar(b1), tSafe))); // 1 / bias corrections
      const c2 = tf.div(1, tf.sub(1, tf.pow(tf.scalar(b2), tSafe)));
      const k1 = tf.mul(ok, 1 - b1);
      const k2 = tf.mul(ok, 1 - b2);
      const step = tf.mul(ok, lr);
      const decay = tf.sub(1, tf.mul(step, weightDecay)); // decoupled: p ← p·(1 − lr·wd) − lr·update
      for (const [name, p] of params) {
        const g0 = grads[name];
        if (!g0) continue;
        const s = this.slot(name, p);
        // Small tidies so that at most a few parameter-sized temporaries live at once (the wasm heap is 2 GB).
        // Finite values only (a same-shape select; a broadcast scalar condition would tile), then the gate.
        const g = tf.tidy(() => tf.mul(tf.where(tf.isFinite(g0), g0, tf.zerosLike(g0)), gate));
        const m = tf.tidy(() => tf.add(s.m, tf.mul(k1, tf.sub(g, s.m))));
        const v = tf.tidy(() => tf.add(s.v, tf.mul(k2, tf.sub(tf.square(g), s.v))));
        g.dispose();
        s.m.assign(m);
        s.v.assign(v);
        const upd = tf.tidy(() => tf.div(tf.mul(m, c1), tf.add(tf.sqrt(tf.mul(v, c2)), eps)));
        tf.dispose([m, v]);
        const next = tf.tidy(() => tf.sub(weightDecay > 0 && p.rank >= 2 ? tf.mul(p, decay) : p, tf.mul(upd, step)));
        upd.dispose();
        p.assign(next);
        next.dispose();
      }
      this.t.assign(t);
    });
  }

  private slot(name: string, p: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let s = this.slots.get(name);
    if (!s) {
      s = {
        m: tf.variable(tf.zerosLike(p), false, `${name}/m#${uid++}`),
        v: tf.variable(tf.zerosLike(p), false, `${name}/v#${uid++}`),
      };
      this.slots.set(name, s);
    }
    return s;
  }

  /** The state as plain data (reads the device). */
  async exportState(): Promise<OptimizerState> {
    const slots: NamedArray[] = [];
    for await (const a of this.slotArrays()) slots.push(a);
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

  /** Replaces the state with an exported one; `params` checks names and shapes. */
  importState(state: OptimizerState, params: Map<string, tf.Variable>): void {
    const byName = new Map(state.slots.map((s) => [s.name, s]));
    for (const [name, p] of params) {
      const m = byName.get(`${name}/m`);
      const v = byName.get(`${name}/v`);
      if (!m && !v) continue; // never updated (e.g. frozen): starts from zero
      for (const [slotName, a] of [[`${name}/m`, m], [`${name}/v`, v]] as const) {
        if (!a) throw new CheckpointError(`optimizer state lacks slot ${slotName}`, undefined, slotName);
        if (a.shape.join(',') !== p.shape.join(',') || a.data.length !== p.size) {
          throw new CheckpointError(`optimizer slot ${slotName} has shape [${a.shape}], expected [${p.shape}]`, undefined, slotName);
        }
      }
      const s = this.slot(name, p);
      s.m.assign(tf.tensor(m!.data, p.shape, 'float32'));
      s.v.assign(tf.tensor(v!.data, p.shape, 'float32'));
    }
    tf.tidy(() => this.t.assign(tf.scalar(state.step)));
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
 * Both are device scalars; a non-finite norm gives a non-finite norm (callers gate on it).
 */
export function globalNormClip(grads: readonly tf.Tensor[], maxNorm: number): { norm: tf.Scalar; scale: tf.Scalar } {
  return tf.tidy(() => {
    const sq = grads.map((g) => tf.tidy(() => tf.sum(tf.square(g))));
    const norm = tf.sqrt(sq.length ? tf.addN(sq) : tf.scalar(0)) as tf.Scalar;
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
