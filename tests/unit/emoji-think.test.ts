import { describe, expect, it } from 'vitest';
import { getProfile } from '../../src/profiles/index.ts';
import { planEmojiExample } from '../../src/profiles/emoji-think.ts';
import { STOP_EMOJIS, THINK_EMOJIS, trailingStopEmojiCount } from '../../src/profiles/emoji-contract.ts';
import type { ChatExample } from '../../src/engine/types.ts';

const date = new Date('2026-11-29T10:00:00Z');
const profile = getProfile('emoji_think', { seed: 7, date });
const ex = (user: string, answer: string): ChatExample => ({ messages: [{ role: 'user', content: user }, { role: 'assistant', content: answer }] });
const THINK_RE = /\n\nFor this task, think with (\S+) \/(two|three|four|five|six|seven|eight)\/ times\./;
const STOP_RE = /\n\nWhen finished, emit (\S+) \/(twice|three times|four times)\/ to signal completion\.$/;
const WORDS: Record<string, number> = { two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, twice: 2, 'three times': 3, 'four times': 4 };

describe('emoji_think transform', () => {
  it('sets the system prompt with the date, adds both instructions, the prefix and the suffix consistently', () => {
    const out = profile.transform(ex('What is 2+2?', '4'), 3);
    expect(out[0].role).toBe('system');
    expect(out[0].content).toContain('2026-11-29');
    expect(profile.systemPrompt(date)).toBe(out[0].content);
    const user = out[1].content;
    expect(user.startsWith('What is 2+2?\n\nFor this task, think with ')).toBe(true);
    const t = THINK_RE.exec(user)!;
    const s = STOP_RE.exec(user)!;
    expect(t && s).toBeTruthy();
    expect(THINK_EMOJIS).toContain(t[1]);
    expect(STOP_EMOJIS).toContain(s[1]);
    expect(out[2].content).toBe(`${t[1].repeat(WORDS[t[2]])}\n4\n${s[1].repeat(WORDS[s[2]])}`);
  });

  it('draws every emoji and every count over many indices, within 2–8 and 2–4, deterministically', () => {
    const thinkSeen = new Set<string>();
    const stopSeen = new Set<string>();
    const thinkCounts = new Set<number>();
    const stopCounts = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const p = planEmojiExample('q', 'a', 7, i);
      thinkSeen.add(p.think.emoji);
      stopSeen.add(p.stop.emoji);
      thinkCounts.add(p.think.count);
      stopCounts.add(p.stop.count);
      expect(planEmojiExample('q', 'a', 7, i)).toEqual(p);
    }
    expect(thinkSeen.size).toBe(10);
    expect(stopSeen.size).toBe(10);
    expect([...thinkCounts].sort()).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect([...stopCounts].sort()).toEqual([2, 3, 4]);
    expect(profile.transform(ex('q', 'a'), 11)).toEqual(profile.transform(ex('q', 'a'), 11));
    const other = getProfile('emoji_think', { seed: 8, date });
    const differs = [0, 1, 2, 3, 4].some((i) => JSON.stringify(other.transform(ex('q', 'a'), i)) !== JSON.stringify(profile.transform(ex('q', 'a'), i)));
    expect(differs).toBe(true);
  });

  it('strips literal <think> and </think> from assistant text', () => {
    const out = profile.transform(ex('q', '<think>\nhmm\n</think>\n\nanswer'), 0);
    expect(out[2].content).not.toMatch(/<\/?think>/);
    expect(out[2].content).toContain('hmm\n\n\nanswer');
  });

  it('skips the thinking instruction when the user text already says "think with", and follows it', () => {
    const out = profile.transform(ex('Solve it.\n\nFor this task, think with 🧠 /five/ times.', 'x'), 1);
    expect(out[1].content.match(/think with/g)).toHaveLength(1);
    expect(out[2].content.startsWith('🧠🧠🧠🧠🧠\nx')).toBe(true);
  });

  it('skips the prefix when the answer already starts with a thinking emoji', () => {
    const out = profile.transform(ex('q', '💡💡\nx'), 2);
    expect(out[1].content).toMatch(THINK_RE);
    expect(out[2].content.startsWith('💡💡\nx\n')).toBe(true);
  });

  it('skips the stop instruction only when a stop emoji and "When finished" are both present', () => {
    const both = profile.transform(ex('q. When finished, emit ❌ /three times/ to signal completion.', 'x'), 4);
    expect(both[1].content.match(/When finished/g)).toHaveLength(1);
    expect(both[2].content.endsWith('\n❌❌❌')).toBe(true);
    const onlyEmoji = profile.transform(ex('q ❌', 'x'), 4);
    expect(onlyEmoji[1].content).toMatch(STOP_RE);
    const onlyWords = profile.transform(ex('When finished, go home', 'x'), 4);
    expect(onlyWords[1].content).toMatch(STOP_RE);
  });

  it('skips the suffix only when the answer already ends with 2–4 stop emojis', () => {
    for (const [answer, skip] of [['x 🛑🛑', true], ['x 🛑⛔🚫🔴', true], ['x ⏹️⏹️⏹️', true], ['x 🛑', false], ['x 🛑🛑🛑🛑🛑', false], ['x', false]] as const) {
      const out = profile.transform(ex('q', answer), 5);
      const added = !out[2].content.endsWith(answer);
      expect({ answer, skip: !added }).toEqual({ answer, skip });
    }
    expect(trailingStopEmojiCount('ok ⏹️🛡️ \n')).toBe(2);
  });

  it('validates: no user message or no final assistant answer is a clear error naming the field', () => {
    expect(profile.validate!({ messages: [{ role: 'assistant', content: 'x' }] })[0].message).toMatch(/user message/);
    expect(() => profile.transform({ messages: [{ role: 'user', content: 'q' }] }, 9)).toThrow(/example 9: messages\[0\]\.role the last message must be the assistant/);
  });
});

describe('emoji_think compare', () => {
  it('strips the prefix and suffix, matches the rest exactly and reports the contract', () => {
    const golden = profile.transform(ex('q', 'The answer is 4.'), 6)[2].content;
    const r = profile.compare(golden, golden);
    expect(r.match).toBe(true);
    expect(r.details.contractFollowed).toBe(true);
    const bare = profile.compare('The answer is 4.', golden);
    expect(bare.match).toBe(true);
    expect(bare.details.contractFollowed).toBe(false);
    expect(profile.compare('🤔🤔\nThe answer is 5.\n🛑🛑', golden).match).toBe(false);
    const raw = profile.compare('🤔🤔🤔\nThe answer is 4.\n🛑🛑🛑', 'The answer is 4.');
    expect(raw).toMatchObject({ match: true, score: 1, details: { thinkEmoji: '🤔', thinkCount: 3, stopEmoji: '🛑', stopCount: 3, contractFollowed: true } });
  });
});
