import { describe, expect, it } from 'vitest';
import { SexprParseError, normalize, normalizeNumber, parse } from '../../src/regime3/sexpr.ts';

function parseError(src: string): SexprParseError {
  try {
    parse(src);
  } catch (e) {
    if (e instanceof SexprParseError) return e;
    throw e;
  }
  throw new Error(`expected a parse error for ${JSON.stringify(src)}`);
}

describe('S-expression parser and normalizer', () => {
  it('reads numbers, JSON strings and symbols', () => {
    expect(parse('(f 1 -2.5 "a\\"b" x cat-1 n_2 Q)')).toEqual({
      kind: 'list',
      items: [
        { kind: 'symbol', text: 'f' }, { kind: 'number', text: '1' }, { kind: 'number', text: '-2.5' }, { kind: 'string', text: '"a\\"b"' },
        { kind: 'symbol', text: 'x' }, { kind: 'symbol', text: 'cat-1' }, { kind: 'symbol', text: 'n_2' }, { kind: 'symbol', text: 'Q' },
      ],
    });
    expect(parse('"ü 🌍 \\u00e9"')).toEqual({ kind: 'string', text: '"ü 🌍 \\u00e9"' });
    expect(parse('1e5').kind).toBe('symbol');
  });

  it('changes only whitespace and number spelling, never order or case', () => {
    expect(normalize('  (Add\n\t1.50   +3 (Mul X  x) )  ')).toBe('(Add 1.5 3 (Mul X x))');
    expect(['007', '-0', '+0.0', '.5', '5.', '-1.000', '10', '100.001'].map(normalizeNumber)).toEqual(['7', '0', '0', '0.5', '5', '-1', '10', '100.001']);
    expect(normalize('"a  b"')).toBe('"a  b"');
    expect(normalize('(b a)')).toBe('(b a)');
    expect(normalize('123456789012345678901234567890.000')).toBe('123456789012345678901234567890');
  });

  it('reports errors with line and column', () => {
    const cases: [string, RegExp, number, number][] = [
      ['(add 1', /unclosed '\('/, 1, 1],
      ['(a)\n )', /unexpected '\)'/, 2, 2],
      ['(a "b', /unterminated string/, 1, 4],
      ['(a "\\x")', /invalid escape/, 1, 5],
      ['()', /empty list/, 1, 1],
      ['(1 2)', /operator must be a symbol/, 1, 2],
      ['(a) b', /after the expression/, 1, 5],
      ['  ', /empty input/, 1, 1],
      ['(a "x"y)', /whitespace or a parenthesis/, 1, 7],
      ['(a "\u0001")', /control character/, 1, 5],
    ];
    for (const [src, re, line, column] of cases) {
      const e = parseError(src);
      expect({ src, msg: e.message, line: e.line, column: e.column }).toMatchObject({ src, line, column });
      expect(e.message).toMatch(re);
    }
  });

  it('parses deep nesting without recursion limits', () => {
    const deep = '(f '.repeat(20000) + 'x' + ')'.repeat(20000);
    expect(normalize(deep)).toBe(deep);
  });
});
