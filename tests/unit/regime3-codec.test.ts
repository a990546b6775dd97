import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/rng.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCodebook, loadCodebook } from '../../src/regime3/codebook.ts';
import { readCodebookFile } from '../../src/regime3/codebook-file.ts';
import { Regime3DecodeError, decode, encode } from '../../src/regime3/encode.ts';
import { normalize } from '../../src/regime3/sexpr.ts';

const OPS = ['add', 'sub', 'mul', 'div', '=', 'all', 'some', 'is', 'not', 'Add', 'f', 'cat-1', 'n_2', 'Q', '<E000>', '→', 'λ'];
const SYMBOL_CHARS = 'abcXYZ_-+*/=<>!?.:#0123456789éλ→🌍';
const STRING_PIECES = ['a', ' ', '\\"', '\\\\', '\\n', '\\u00e9', '\\u0041', 'é', '🌍', '漢', '(', ')', '\t'.replace('\t', '\\t'), '\\/', 'x y'];
const SPACES = [' ', '  ', '\n', '\t', ' \n '];

/** A random valid expression in a random (non-normal) spelling. */
function randomExpr(rng: Rng, depth: number): string {
  if (depth <= 0 || rng.next() < 0.35) return randomAtom(rng);
  const n = rng.int(0, 4);
  const sp = () => rng.pick(SPACES);
  const parts = [rng.pick(OPS)];
  for (let k = 0; k < n; k++) parts.push(randomExpr(rng, depth - 1));
  return `(${rng.next() < 0.2 ? sp() : ''}${parts.join(sp())}${rng.next() < 0.2 ? sp() : ''})`;
}

function randomAtom(rng: Rng): string {
  const r = rng.next();
  if (r < 0.4) {
    const sign = rng.pick(['', '', '+', '-']);
    const int = rng.pick(['0', '00', '7', '42', '0012', String(rng.int(0, 100000))]);
    const frac = rng.pick(['', '', '.5', '.50', '.000', '.125', '.']);
    return `${sign}${int}${frac}`;
  }
  if (r < 0.7) return rng.pick(OPS.slice(0, 8));
  if (r < 0.85) {
    let s = '';
    for (let k = rng.int(1, 6); k > 0; k--) s += rng.pick([...SYMBOL_CHARS]);
    return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(s) ? `s${s}` : s;
  }
  let s = '';
  for (let k = rng.int(0, 5); k > 0; k--) s += rng.pick(STRING_PIECES);
  return `"${s}"`;
}

const corpus = Array.from({ length: 300 }, (_, i) => randomExpr(new Rng(1000 + i), 4));

describe('regime-3 codebook', () => {
  const data = buildCodebook(corpus, { size: 120 });
  const book = loadCodebook(JSON.parse(JSON.stringify(data)));

  it('gives ( and ) the first codes, then frequent tokens, then merges; versioned JSON', () => {
    expect(data).toMatchObject({ format: 'regime3-codebook', version: 1, size: data.entries.length });
    expect(data.entries[0]).toEqual({ code: '<E000>', token: '(' });
    expect(data.entries[1]).toEqual({ code: '<E001>', token: ')' });
    expect(data.entries.length).toBeLessThanOrEqual(120);
    const merges = data.entries.filter((e) => 'merge' in e);
    expect(merges.length).toBeGreaterThanOrEqual(30);
    expect(data.entries.findIndex((e) => 'merge' in e)).toBeGreaterThan(2);
    expect(data.entries.filter((e) => 'token' in e).map((e) => (e as { token: string }).token)).toContain('add');
    expect(buildCodebook(corpus, { size: 120 }).entries).toEqual(data.entries);
  });

  it('compresses: merged codes make the corpus shorter than one code per token', () => {
    const withMerges = corpus.reduce((n, x) => n + encode(book, x).split(' ').length, 0);
    const firstMerge = data.entries.findIndex((e) => 'merge' in e);
    const noMerges = loadCodebook({ ...data, size: firstMerge, entries: data.entries.slice(0, firstMerge) });
    const without = corpus.reduce((n, x) => n + encode(noMerges, x).split(' ').length, 0);
    expect(withMerges).toBeLessThan(without * 0.9);
  });

  it('rejects malformed codebooks naming the field', () => {
    const copy = () => JSON.parse(JSON.stringify(data));
    const bad1 = copy();
    bad1.version = 2;
    expect(() => loadCodebook(bad1, 'cb.json')).toThrow(/cb\.json: version 2 is not supported/);
    const bad2 = copy();
    bad2.entries[5].code = '<E009>';
    expect(() => loadCodebook(bad2)).toThrow(/entries\[5\]\.code must be <E005>/);
    const bad3 = copy();
    const m = bad3.entries.findIndex((e: { merge?: string[] }) => e.merge);
    bad3.entries[m].merge = ['<E000>', `<E${String(m + 3).padStart(3, '0')}>`];
    expect(() => loadCodebook(bad3)).toThrow(new RegExp(`entries\\[${m}\\]\\.merge\\[1\\] must name a code defined before`));
    const bad4 = copy();
    bad4.entries[2].token = '+3';
    expect(() => loadCodebook(bad4)).toThrow(/entries\[2\]\.token "\+3" is not one atom in normal form/);
    expect(() => loadCodebook({ ...copy(), size: 3 })).toThrow(/size is 3 but there are/);
    const dir = mkdtempSync(join(tmpdir(), 'cb-'));
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(data));
    expect(readCodebookFile(join(dir, 'ok.json'))).toEqual(data);
    writeFileSync(join(dir, 'bad.json'), '{"format": ');
    expect(() => readCodebookFile(join(dir, 'bad.json'))).toThrow(/bad\.json is not valid JSON/);
    expect(() => readCodebookFile(join(dir, 'none.json'))).toThrow(/cannot read codebook .*none\.json/);
  });
});

describe('regime-3 encode / decode', () => {
  const book = loadCodebook(buildCodebook(corpus, { size: 120 }));

  it('round-trips: decode(encode(x)) = normalize(x) over thousands of random expressions (seeded)', () => {
    const rng = new Rng(20261129);
    for (let i = 0; i < 3000; i++) {
      const x = randomExpr(rng, rng.int(0, 6));
      const codes = encode(book, x);
      expect(codes).toMatch(/^<[^<>\s]+>( <[^<>\s]+>)*$/);
      const back = decode(book, codes);
      if (back !== normalize(x)) expect({ x, codes, back }).toEqual({ x, codes, back: normalize(x) });
    }
  });

  it('encodes atoms outside the codebook as literal bytes, so every valid expression encodes', () => {
    const tiny = loadCodebook(buildCodebook(['(a b)'], { size: 2 }));
    expect(encode(tiny, '(zz "é")')).toBe('<E000> <LIT> <L7A> <L7A> </LIT> <LIT> <L22> <LC3> <LA9> <L22> </LIT> <E001>');
    expect(decode(tiny, encode(tiny, '(zz "é" +1.50)'))).toBe('(zz "é" 1.5)');
    expect(tiny.addedTokens()).toHaveLength(2 + 2 + 256);
  });

  it('decodes malformed code sequences to a clear error, never a guess', () => {
    const cases: [string, RegExp][] = [
      ['', /no codes/],
      ['<E000>', /left open/],
      ['<E001>', /no open '\('/],
      ['<E999>', /unknown code <E999>/],
      ['<E000> <E001>', /empty list/],
      ['<LIT> <L61>', /never closed/],
      ['<L61>', /outside a literal/],
      ['</LIT>', /without <LIT>/],
      ['<LIT> </LIT>', /empty literal/],
      ['<LIT> <LC3> </LIT>', /not valid UTF-8/],
      ['<LIT> <L2B> <L31> </LIT>', /not one atom in normal form/],
      ['<LIT> <L61> <L20> <L62> </LIT>', /not one atom/],
      ['<LIT> <L61> </LIT> <LIT> <L62> </LIT>', /after a complete expression/],
      ['<E000> <LIT> <L31> </LIT> <E001>', /operator must be a symbol/],
      ['<E000> <E00', /unexpected text/],
      ['hello', /unexpected text "hello"/],
    ];
    for (const [codes, re] of cases) {
      let err: unknown = null;
      try {
        decode(book, codes);
      } catch (e) {
        err = e;
      }
      expect(err, codes).toBeInstanceOf(Regime3DecodeError);
      expect((err as Error).message, codes).toMatch(re);
    }
  });
});
