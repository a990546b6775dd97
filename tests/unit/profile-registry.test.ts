import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/engine/errors.ts';
import { getProfile, profileCatalog, profileNames } from '../../src/profiles/index.ts';

describe('profile registry and plain_sft', () => {
  it('lists the profiles and names the valid ones for an unknown name', () => {
    expect(profileNames).toEqual(['plain_sft', 'emoji_think', 'regime3']);
    let err: unknown;
    try {
      getProfile('emoji');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('unknown profile "emoji"; expected one of: plain_sft, emoji_think, regime3');
    expect(() => getProfile('toString')).toThrow(/unknown profile/);
    expect(profileCatalog.map((p) => [p.name, p.chatTemplate, p.requires])).toEqual([
      ['plain_sft', 'stock', []],
      ['emoji_think', 'chatml', []],
      ['regime3', 'chatml', ['regime3']],
    ]);
    expect(getProfile('emoji_think').description).toBe(profileCatalog[1].description);
  });

  it('plain_sft keeps messages, adds an optional system prompt when missing, matches after trimming', () => {
    const ex = { messages: [{ role: 'user' as const, content: 'hi' }, { role: 'assistant' as const, content: 'hello' }] };
    const plain = getProfile('plain_sft');
    expect(plain.transform(ex, 0)).toEqual(ex.messages);
    expect(plain.systemPrompt(new Date())).toBeNull();
    const withPrompt = getProfile('plain_sft', { systemPrompt: 'Be brief. Today is {date}.', date: new Date('2026-03-04') });
    expect(withPrompt.transform(ex, 0)[0]).toEqual({ role: 'system', content: 'Be brief. Today is 2026-03-04.' });
    const own = { messages: [{ role: 'system' as const, content: 'mine' }, ...ex.messages] };
    expect(withPrompt.transform(own, 0)).toEqual(own.messages);
    expect(plain.compare('  hello\n', 'hello')).toMatchObject({ match: true, score: 1 });
    expect(plain.compare('Hello', 'hello').match).toBe(false);
    expect(plain.validate!({ messages: [{ role: 'user', content: 'q' }] })[0]).toEqual({ field: 'messages[0].role', message: 'the last message must be the assistant answer' });
    expect(plain.logitsProcessors({} as never).processors).toEqual([]);
  });
});
