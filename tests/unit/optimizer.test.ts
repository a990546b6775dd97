// AdamW against a hand-computed update, the finite gate (a skipped step changes nothing), clipping, and
// export/import reproducing the next loss exactly.
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '../../src/engine/register-gradients.ts';
import { AdamW, finiteGate, globalNormClip } from '../../src/engine/optimizer.ts';

const opts = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };

describe('AdamW', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches the AdamW formulas (decoupled decay on matrices only, bias correction)', () => {
    const params = new Map<string, tf.Variable>([['w', tf.variable(tf.tensor2d([[1, -2]]))], ['b', tf.variable(tf.tensor1d([0.5]))]]);
    const opt = new AdamW(opts);
    const one = tf.scalar(1);
    for (let s = 0; s < 2; s++) opt.apply(params, { w: tf.tensor2d([[0.5, 0.25]]), b: tf.tensor1d([-1]) }, 0.1, one);
    // both steps see the same gradient g, so m̂ = g and v̂ = g²: the Adam term is sign(g) (up to eps)
    let w = [1, -2];
    for (let s = 0; s < 2; s++) w = w.map((x) => x - 0.1 * (1 + 0.1 * x));
    const got = params.get('w')!.dataSync();
    expect(got[0]).toBeCloseTo(w[0], 5);
    expect(got[1]).toBeCloseTo(w[1], 5);
    expect(params.get('b')!.dataSync()[0]).toBeCloseTo(0.5 + 0.2, 5); // no decay on vectors
    opt.dispose();
  });

  it('a step gated off (non-finite) changes neither weights nor moments nor the step count', async () => {
    const params = new Map([['w', tf.variable(tf.tensor1d([1, 2, 3]))]]);
    const opt = new AdamW(opts);
    opt.apply(params, { w: tf.tensor1d([1, 1, 1]) }, 0.01, tf.scalar(1));
    const before = { w: params.get('w')!.dataSync().slice(), s: await opt.exportState() };
    const bad = tf.tensor1d([NaN, Infinity, 1]);
    const ok = finiteGate(tf.scalar(1), globalNormClip([bad], 1).norm);
    expect(ok.dataSync()[0]).toBe(0);
    opt.apply(params, { w: bad }, 0.01, ok);
    expect(params.get('w')!.dataSync()).toEqual(before.w);
    expect(await opt.exportState()).toEqual(before.s);
    opt.dispose();
  });

  it('global-norm clipping scale', () => {
    const { norm, scale } = globalNormClip([tf.tensor1d([3]), tf.tensor2d([[4]])], 1);
    expect(norm.dataSync()[0]).toBeCloseTo(5);
    expect(scale.dataSync()[0]).toBeCloseTo(0.2);
    expect(globalNormClip([tf.tensor1d([0.3])], 1).scale.dataSync()[0]).toBe(1);
    expect(globalNormClip([tf.tensor1d([30])], 0).scale.dataSync()[0]).toBe(1);
  });

  it('an exported and re-imported optimizer reproduces the next loss exactly; numTensors flat', async () => {
    const target = tf.tensor2d([[1, 2], [3, 4]]);
    const lossOf = (p: Map<string, tf.Variable>) => tf.sum(tf.square(tf.sub(tf.matMul(p.get('w')!, p.get('w')!), target))) as tf.Scalar;
    const step = (p: Map<string, tf.Variable>, o: AdamW) => {
      const { value, grads } = tf.variableGrads(() => lossOf(p), [p.get('w')!]);
      const g = { w: grads[p.get('w')!.name] };
      const one = tf.scalar(1);
      o.apply(p, g, 0.05, one);
      const l = value.dataSync()[0];
      tf.dispose([value, g.w, one]);
      return l;
    };
    const p1 = new Map([['w', tf.variable(tf.tensor2d([[0.5, 0.1], [0.2, 0.7]]))]]);
    const o1 = new AdamW(opts);
    for (let i = 0; i < 3; i++) step(p1, o1);
    const n0 = tf.memory().numTensors;
    step(p1, o1);
    expect(tf.memory().numTensors).toBe(n0);
    const state = await o1.exportState();
    expect(state.slots.map((s) => s.name)).toEqual(['w/m', 'w/v']);
    expect(state.step).toBe(4);
    const p2 = new Map([['w', tf.variable(p1.get('w')!.clone())]]);
    const o2 = new AdamW(opts);
    o2.importState(structuredClone(state), p2);
    const next1 = [step(p1, o1), step(p1, o1)];
    const next2 = [step(p2, o2), step(p2, o2)];
    expect(next2).toEqual(next1);
    // a fresh optimizer (moments lost) would not
    const p3 = new Map([['w', tf.variable(p2.get('w')!.clone())]]);
    const p4 = new Map([['w', tf.variable(p1.get('w')!.clone())]]);
    const o4 = new AdamW(opts);
    o4.importState(await o1.exportState(), p4);
    const o3 = new AdamW(opts);
    step(p3, o3);
    step(p4, o4);
    expect(step(p3, o3)).not.toEqual(step(p4, o4)); // the loss after the update differs
    expect(() => o2.importState({ step: 1, slots: [{ name: 'w/m', shape: [3], data: new Float32Array(3) }, { name: 'w/v', shape: [3], data: new Float32Array(3) }] }, p2)).toThrow(/shape/);
  });

  it('grows moments on the device with zero columns after a vocabulary grew ([hidden, vocab] layout); no tensor left behind', async () => {
    const e = tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
    const params = new Map<string, tf.Variable>([['e', e]]);
    const opt = new AdamW(opts);
    opt.apply(params, { e: tf.tensor2d([[1, 1, 1], [1, 1, 1]]) }, 0.01, tf.scalar(1));
    const before = (await opt.exportState()).slots.map((s) => Array.from(s.data));
    const n0 = tf.memory().numTensors;
    const grown = tf.tidy(() => tf.variable(tf.concat([e, tf.zeros([2, 2])], 1))); // as Qwen3Model.resizeVocab does
    e.dispose();
    params.set('e', grown);
    opt.growSlots(params);
    expect(tf.memory().numTensors).toBe(n0);
    const after = await opt.exportState();
    expect(after.slots.map((s) => s.shape)).toEqual([[2, 5], [2, 5]]);
    after.slots.forEach((s, k) => expect(Array.from(s.data)).toEqual([...before[k].slice(0, 3), 0, 0, ...before[k].slice(3), 0, 0]));
    expect(() => opt.growSlots(new Map([['e', tf.variable(tf.zeros([1, 5]))]]))).toThrow(/cannot grow optimizer slots of e/);
    opt.dispose();
  });
});
