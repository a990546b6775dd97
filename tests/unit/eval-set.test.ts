import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Qwen3Model, singleSequence } from '../../src/engine/model.ts';
import { ANSWER_SLACK_TOKENS, answerGreedy, evalSetMetrics, scoreAnswerTokens, type ExampleOutcome } from '../../src/engine/eval-set.ts';
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

  it('caps a greedy answer at the golden length + 16 tokens', async () => {
    const model = Qwen3Model.random(TINY_CONFIG, 6);
    const r = await answerGreedy(model, [256, 10, 11], 3, { eosTokenIds: [], decode: (ids) => ids.join(' ') });
    expect(r.ids.length).toBe(3 + ANSWER_SLACK_TOKENS);
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
