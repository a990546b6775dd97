import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Qwen3Model, singleSequence } from '../../src/engine/model.ts';
import { evalSetMetrics, scoreAnswerTokens, scoreAnswerTokensBatch, type ExampleOutcome } from '../../src/engine/eval-set.ts';
import { generate } from '../../src/engine/generate.ts';
import { greedyBatch } from '../../src/engine/generate-batch.ts';
import { TINY_CONFIG } from './daemon-fixture.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('eval-set scoring', () => {
  it('scores the answer tokens as full softmax logits do: p(golden), top-1 and the summed NLL; frees its tensors', async () => {
    const model = Qwen3Model.random(TINY_CONFIG, 5);
    const ids = Int32Array.from([256, 10, 11, 12, 40, 41, 42, 258]);
    const mask = Uint8Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
    const before = tf.memory().numTensors;
    const sc = await scoreAnswerTokens(model, ids, mask);
    expect(tf.memory().numTensors).toBe(before);
    const x = singleSequence(ids);
    const probs = tf.tidy(() => tf.softmax(model.logits(x)).arraySync() as number[][][])[0];
    tf.dispose([x.inputIds, x.positionIds, x.segmentIds]);
    let nll = 0;
    for (let k = 0; k < 4; k++) {
      const row = probs[3 + k], golden = ids[4 + k];
      expect(sc.goldenProb[k]).toBeCloseTo(row[golden], 5);
      expect(sc.top[k]).toBe(row.indexOf(Math.max(...row)) === golden ? 1 : 0);
      nll -= Math.log(row[golden]);
    }
    expect(sc.nll).toBeCloseTo(nll, 4);
    model.dispose();
  });

  it('scores sequences of different lengths in one padded batch as it scores each alone', async () => {
    const model = Qwen3Model.random(TINY_CONFIG, 7);
    const seqs = [
      { ids: Int32Array.from([256, 10, 11, 40, 41]), trainMask: Uint8Array.from([0, 0, 0, 1, 1]) },
      { ids: Int32Array.from([256, 12, 13, 14, 15, 16, 50, 51, 52, 258]), trainMask: Uint8Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 1]) },
      { ids: Int32Array.from([256, 20, 60]), trainMask: Uint8Array.from([0, 0, 1]) },
    ];
    const before = tf.memory().numTensors;
    const batch = await scoreAnswerTokensBatch(model, seqs);
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < seqs.length; i++) {
      const one = await scoreAnswerTokens(model, seqs[i].ids, seqs[i].trainMask);
      expect(batch[i].goldenProb.length).toBe(one.goldenProb.length);
      for (let k = 0; k < one.goldenProb.length; k++) expect(batch[i].goldenProb[k]).toBeCloseTo(one.goldenProb[k], 5);
      expect(Array.from(batch[i].top)).toEqual(Array.from(one.top));
      expect(batch[i].nll).toBeCloseTo(one.nll, 4);
    }
    model.dispose();
  });

  it('answers a batch of prompts greedily exactly as generate() answers each alone: caps, end tokens and processors per row', async () => {
    const model = Qwen3Model.random(TINY_CONFIG, 8);
    const decode = (ids: readonly number[]) => ids.join(' ');
    const prompts = [[256, 10, 11], [256, 30, 31, 32, 33, 34, 35], [256, 70]];
    // An end token the model really emits: the third token of prompt 1's free answer.
    const free = await generate(model, prompts[1], { maxNewTokens: 6, temperature: 0, eosTokenIds: [], decode });
    const eos = free.ids[2];
    const banFirst = (_: readonly number[], logits: Float32Array) => {
      const out = logits.slice();
      out[out.indexOf(Math.max(...out))] = -Infinity; // never the top token: a processor that changes the answer
      return out;
    };
    const rows = [
      { ids: prompts[0], maxNewTokens: 5 },
      { ids: prompts[1], maxNewTokens: 9 },
      { ids: prompts[2], maxNewTokens: 4, processors: [banFirst] },
    ];
    const before = tf.memory().numTensors;
    const batch = await greedyBatch(model, rows, { eosTokenIds: [eos], decode });
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < rows.length; i++) {
      const alone = await generate(model, rows[i].ids, { maxNewTokens: rows[i].maxNewTokens, temperature: 0, eosTokenIds: [eos], decode, processors: rows[i].processors });
      expect(batch[i].ids).toEqual(alone.ids);
      expect(batch[i].text).toBe(alone.text);
      expect(batch[i].stopReason).toBe(alone.stopReason);
    }
    expect(batch[1].stopReason).toBe('eos');
    expect(batch[1].ids.length).toBeLessThanOrEqual(2);
    model.dispose();
  });

  it('folds outcomes into EM, loss per answer token, ECE and accuracy per skill and difficulty', () => {
    const o = (match: boolean, skill?: string, difficulty?: string): ExampleOutcome => ({ prompt: 'p', golden: 'g', answer: 'a', match, loss: 0, skill, difficulty });
    const m = evalSetMetrics(
      [o(true, 'add', 'easy'), o(false, 'add', 'hard'), o(true, 'mul'), o(true)],
      [
        { goldenProb: Float32Array.from([0.95, 0.85]), top: Uint8Array.from([1, 1]), nll: 2 },
        { goldenProb: Float32Array.from([0.15]), top: Uint8Array.from([0]), nll: 3 },
        { goldenProb: new Float32Array(0), top: new Uint8Array(0), nll: 0 },
        { goldenProb: Float32Array.from([0.55]), top: Uint8Array.from([1]), nll: 1 },
      ],
    );
    expect(m.em).toBe(0.75);
    expect(m.loss).toBeCloseTo(6 / 4);
    // bins: 0.95 → |0.95−1|, 0.85 → |0.85−1|, 0.15 → |0.15−0|, 0.55 → |0.55−1|; each weight 1/4
    expect(m.ece).toBeCloseTo((0.05 + 0.15 + 0.15 + 0.45) / 4, 5);
    expect(m.tokens).toBe(4);
    expect(m.bySkill).toEqual({ add: { n: 2, em: 0.5 }, mul: { n: 1, em: 1 } });
    expect(m.byDifficulty).toEqual({ easy: { n: 1, em: 1 }, hard: { n: 1, em: 0 } });
  });
});
