import { describe, expect, it } from 'vitest';
import { getProfile } from '../../src/profiles/index.ts';
import { answerOutcome, countOutcomes, outcomeLabel } from '../../src/profiles/outcome.ts';
import { ANS_END, ANS_START } from '../../src/profiles/regime3.ts';
import { buildCodebook, loadCodebook } from '../../src/regime3/codebook.ts';
import { encode } from '../../src/regime3/encode.ts';
import { generateExample } from '../../src/regime3/tasks.ts';

describe('profile-aware answer outcomes', () => {
  it('emoji_think records the contract: thinking and stop emoji with their counts, followed or not', () => {
    const p = getProfile('emoji_think');
    const verdict = (answer: string) => answerOutcome('emoji_think', p.compare(answer, 'The answer is 4.').details);
    const kept = verdict('🤔🤔🤔\nThe answer is 4.\n🛑🛑🛑');
    expect(kept).toEqual({ kind: 'emoji_contract', thinkEmoji: '🤔', thinkCount: 3, stopEmoji: '🛑', stopCount: 3, followed: true });
    const broken = verdict('The answer is 4.');
    expect(broken).toMatchObject({ thinkEmoji: null, thinkCount: 0, stopEmoji: null, stopCount: 0, followed: false });
    expect([kept, broken].map((o) => outcomeLabel(o!))).toEqual(['contract followed', 'contract broken']);
  });

  it('regime3 records right, wrong, and decode failure with the reason', () => {
    const codebook = buildCodebook(Array.from({ length: 100 }, (_, i) => generateExample('arith', 5, i).messages[1].content), { size: 60 });
    const book = loadCodebook(codebook);
    const p = getProfile('regime3', { regime3: { codebook } });
    const golden = '(= (add 1 2) 3)';
    const verdict = (answer: string) => answerOutcome('regime3', p.compare(answer, golden).details);
    expect(verdict(`${ANS_START} ${encode(book, golden)} ${ANS_END}`)).toEqual({ kind: 'regime3', result: 'right', reason: null });
    expect(verdict(`${ANS_START} ${encode(book, '(= (add 1 2) 4)')} ${ANS_END}`)).toEqual({ kind: 'regime3', result: 'wrong', reason: null });
    const failed = verdict(`${ANS_START} <E000> <E000> ${ANS_END}`);
    expect(failed).toMatchObject({ kind: 'regime3', result: 'decode_failure', reason: expect.stringMatching(/left open/) });
    expect(outcomeLabel(failed!)).toBe('decode failure');
  });

  it('plain_sft has no outcome; counts tally labels and skip rows without one', () => {
    expect(answerOutcome('plain_sft', getProfile('plain_sft').compare('a', 'a').details)).toBeNull();
    const followed = { kind: 'emoji_contract', thinkEmoji: '🤔', thinkCount: 2, stopEmoji: '🛑', stopCount: 2, followed: true } as const;
    const decodeFailure = { kind: 'regime3', result: 'decode_failure', reason: 'x' } as const;
    expect(countOutcomes([followed, null, { ...followed, followed: false }, followed, decodeFailure, undefined])).toEqual({
      'contract followed': 2, 'contract broken': 1, 'decode failure': 1,
    });
  });
});
