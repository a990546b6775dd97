// Chunked LM-head cross-entropy: same loss and gradients as full logits, gradients match finite differences,
// on the cpu and wasm backends, without leaking tensors.
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { lmHeadLoss, lmHeadLossUnchunked, lmHeadLossValue } from '../../src/engine/loss.ts';
import { Rng } from '../../src/engine/rng.ts';

function randn(rng: Rng, n: number, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => s * rng.normal());
}

const N = 11, H = 8, V = 37;
const rng = new Rng(7);
const hData = randn(rng, N * H);
const wData = randn(rng, H * V, 0.5);
const targets = Int32Array.from({ length: N }, (_, i) => (i % 4 === 0 ? -100 : rng.int(0, V - 1)));

for (const backend of ['cpu', 'wasm']) {
  describe(`lmHeadLoss on ${backend}`, () => {
    beforeAll(async () => {
      expect(await tf.setBackend(backend)).toBe(true);
    });

    it('chunked = unchunked: loss and gradients', async () => {
      const h = tf.tensor2d(hData, [N, H]);
      const w = tf.tensor2d(wData, [H, V]);
      const before = tf.memory().numTensors;
      for (const chunk of [1, 3, 4, 100]) {
        const a = tf.valueAndGrads((hh: tf.Tensor, ww: tf.Tensor) => lmHeadLoss(hh as tf.Tensor2D, ww as tf.Tensor2D, targets, { chunkTokens: chunk }))([h, w]);
        const b = tf.valueAndGrads((hh: tf.Tensor, ww: tf.Tensor) => lmHeadLossUnchunked(hh as tf.Tensor2D, ww as tf.Tensor2D, targets))([h, w]);
        expect(Math.abs((await a.value.data())[0] - (await b.value.data())[0])).toBeLessThan(1e-5);
        const v = lmHeadLossValue(h, w, targets, { chunkTokens: chunk });
        expect(Math.abs((await v.data())[0] - (await b.value.data())[0])).toBeLessThan(1e-5);
        v.dispose();
        for (let k = 0; k < 2; k++) {
          const ga = await a.grads[k].data(), gb = await b.grads[k].data();
          let maxDiff = 0;
          for (let i = 0; i < ga.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ga[i] - gb[i]));
          expect(maxDiff).toBeLessThan(1e-5);
        }
        // rows without a target get zero gradient
        const gh = await a.grads[0].data();
        for (let j = 0; j < H; j++) expect(gh[j]).toBe(0);
        tf.dispose([a.value, ...a.grads, b.value, ...b.grads]);
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([h, w]);
    });

    it('gradient matches finite differences', async () => {
      const loss = (hd: Float32Array, wd: Float32Array) =>
        tf.tidy(() => lmHeadLoss(tf.tensor2d(hd, [N, H]), tf.tensor2d(wd, [H, V]), targets, { chunkTokens: 4, denominator: 3 }).dataSync()[0]);
      const g = tf.tidy(() => tf.grads((hh: tf.Tensor, ww: tf.Tensor) => lmHeadLoss(hh as tf.Tensor2D, ww as tf.Tensor2D, targets, { chunkTokens: 4, denominator: 3 }))([tf.tensor2d(hData, [N, H]), tf.tensor2d(wData, [H, V])]));
      const [gh, gw] = [g[0].dataSync(), g[1].dataSync()];
      tf.dispose(g);
      const eps = 1e-2;
      for (const [which, idx] of [[0, 9], [0, 30], [0, 87], [1, 5], [1, 100], [1, 250]] as const) {
        const plus = [new Float32Array(hData), new Float32Array(wData)];
        const minus = [new Float32Array(hData), new Float32Array(wData)];
        plus[which][idx] += eps;
        minus[which][idx] -= eps;
        const fd = (loss(plus[0], plus[1]) - loss(minus[0], minus[1])) / (2 * eps);
        const an = (which === 0 ? gh : gw)[idx];
        expect(Math.abs(fd - an)).toBeLessThan(2e-3 + 1e-2 * Math.abs(an));
      }
    });

    it('all targets masked: zero loss and zero gradient', async () => {
      const none = new Int32Array(N).fill(-100);
      const r = tf.valueAndGrads((hh: tf.Tensor, ww: tf.Tensor) => lmHeadLoss(hh as tf.Tensor2D, ww as tf.Tensor2D, none, { chunkTokens: 4 }))([tf.tensor2d(hData, [N, H]), tf.tensor2d(wData, [H, V])]);
      expect((await r.value.data())[0]).toBe(0);
      expect(Math.max(...(await r.grads[1].data()).map(Math.abs))).toBe(0);
    });
  });
}
