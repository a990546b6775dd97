/**
 * Regime-3 pane helpers: one expression's codes, decoded form and token counts before and after
 * (compression ratio), and the codebook as browsable rows.
 */
import type { ChatTokenizer } from '../engine/types.ts';
import type { Codebook } from './codebook.ts';
import { decode, encodeExpr } from './encode.ts';
import { SexprParseError, parse, print } from './sexpr.ts';

export type Regime3Preview =
  | {
      ok: true;
      canonical: string;
      codes: string;
      decoded: string;
      codeCount: number;
      /** Tokens of the canonical text and of the codes; null without a tokenizer that knows the codes. */
      tokensBefore: number | null;
      tokensAfter: number | null;
      /** tokensBefore / tokensAfter (above 1 = shorter); null when either count is missing. */
      ratio: number | null;
    }
  | { ok: false; error: string; line: number; column: number };

export function previewRegime3(book: Codebook, text: string, tokenizer?: ChatTokenizer): Regime3Preview {
  let canonical: string;
  let codes: string;
  try {
    const expr = parse(text);
    canonical = print(expr);
    codes = encodeExpr(book, expr);
  } catch (e) {
    if (e instanceof SexprParseError) return { ok: false, error: e.message, line: e.line, column: e.column };
    throw e;
  }
  const knowsCodes = tokenizer !== undefined && tokenizer.tokenToId(book.codes[0]) !== undefined;
  const tokensBefore = tokenizer ? tokenizer.encode(canonical).length : null;
  const tokensAfter = knowsCodes ? tokenizer.encode(codes).length : null;
  return {
    ok: true,
    canonical,
    codes,
    decoded: decode(book, codes),
    codeCount: codes.split(' ').length,
    tokensBefore,
    tokensAfter,
    ratio: tokensBefore !== null && tokensAfter ? tokensBefore / tokensAfter : null,
  };
}

export interface CodebookRow {
  code: string;
  kind: 'token' | 'merge';
  /** The base tokens the code stands for, joined with spaces (`( add`). */
  expansion: string;
  /** For merges: the two codes merged. */
  parts: [string, string] | null;
}

export function codebookRows(book: Codebook): CodebookRow[] {
  return book.data.entries.map((e, i) => ({
    code: e.code,
    kind: 'token' in e ? 'token' : 'merge',
    expansion: book.expansion[i].join(' '),
    parts: 'merge' in e ? e.merge : null,
  }));
}
