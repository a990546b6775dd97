/**
 * Regime-3 encoder (canonical expression → codes separated by single spaces) and decoder (codes →
 * canonical, normalized text). decode(encode(x)) = normalize(x) for every valid x; a malformed code
 * sequence is a Regime3DecodeError naming the code position, never a guess.
 */
import { type Codebook, byteCode } from './codebook.ts';
import { type Expr, parse, print, tokens } from './sexpr.ts';

export class Regime3DecodeError extends Error {
  /** `position`: 0-based index of the offending code (or character offset when `unit` is 'char'). */
  constructor(
    readonly reason: string,
    readonly position: number,
    readonly unit: 'code' | 'char' = 'code',
  ) {
    super(`${reason} (at ${unit} ${position + 1})`);
    this.name = 'Regime3DecodeError';
  }
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Applies the codebook's merges BPE-style: always the lowest-ranked adjacent pair first. */
function mergeUnits(book: Codebook, units: number[]): number[] {
  let seq = units;
  for (;;) {
    let best = -1;
    for (let k = 0; k + 1 < seq.length; k++) {
      if (seq[k] < 0 || seq[k + 1] < 0) continue;
      const id = book.mergeItem.get(`${seq[k]},${seq[k + 1]}`);
      if (id !== undefined && (best < 0 || id < best)) best = id;
    }
    if (best < 0) return seq;
    const [l, r] = (book.data.entries[best] as { merge: [string, string] }).merge.map((c) => book.codeItem.get(c)!);
    const out: number[] = [];
    for (let k = 0; k < seq.length; k++) {
      if (k + 1 < seq.length && seq[k] === l && seq[k + 1] === r) {
        out.push(best);
        k++;
      } else out.push(seq[k]);
    }
    seq = out;
  }
}

/** Codes of a parsed expression. */
export function encodeExpr(book: Codebook, expr: Expr): string {
  const toks = tokens(expr);
  const literals: string[] = [];
  const units = toks.map((t) => {
    const id = book.tokenItem.get(t);
    if (id !== undefined) return id;
    literals.push(t);
    return -literals.length; // -1, -2, …: the literal's index, never merged
  });
  const { begin, end } = book.data.literal;
  return mergeUnits(book, units)
    .map((u) => (u >= 0 ? book.codes[u] : [begin, ...Array.from(utf8.encode(literals[-u - 1]), byteCode), end].join(' ')))
    .join(' ');
}

/** Codes of a canonical expression text (any valid spelling). Throws SexprParseError for invalid text. */
export function encode(book: Codebook, canonical: string): string {
  return encodeExpr(book, parse(canonical));
}

const BYTE = /^<L([0-9A-F]{2})>$/;

/** Reads the code tokens of `text`: codes `<…>`, separated by whitespace. */
function splitCodes(text: string): string[] {
  const codes: string[] = [];
  const re = /\s*(<[^<>\s]+>)\s*/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) {
      const bad = /^\s*(\S{1,20})/.exec(text.slice(i))![1];
      throw new Regime3DecodeError(`unexpected text ${JSON.stringify(bad)} where a code <…> was expected`, i + text.slice(i).search(/\S/), 'char');
    }
    codes.push(m[1]);
    i = re.lastIndex;
  }
  return codes;
}

/** Base tokens (with the index of the code each came from) of a code sequence. */
function expand(book: Codebook, codes: readonly string[]): { token: string; at: number }[] {
  const { begin, end } = book.data.literal;
  const out: { token: string; at: number }[] = [];
  for (let k = 0; k < codes.length; k++) {
    const c = codes[k];
    const item = book.codeItem.get(c);
    if (item !== undefined) {
      for (const token of book.expansion[item]) out.push({ token, at: k });
      continue;
    }
    if (c === end) throw new Regime3DecodeError(`${end} without ${begin}`, k);
    if (BYTE.test(c)) throw new Regime3DecodeError(`byte code ${c} outside a literal ${begin} … ${end}`, k);
    if (c !== begin) {
      const last = book.codes[book.codes.length - 1];
      throw new Regime3DecodeError(`unknown code ${c} (this codebook has <E000>…${last}, ${begin}, ${end} and <L00>…<LFF>)`, k);
    }
    const bytes: number[] = [];
    const start = k;
    for (k++; k < codes.length && codes[k] !== end; k++) {
      const m = BYTE.exec(codes[k]);
      if (!m) throw new Regime3DecodeError(`${codes[k]} inside a literal (only byte codes <L00>…<LFF> may appear before ${end})`, k);
      bytes.push(parseInt(m[1], 16));
    }
    if (k >= codes.length) throw new Regime3DecodeError(`literal opened by ${begin} is never closed by ${end}`, start);
    if (bytes.length === 0) throw new Regime3DecodeError('empty literal', start);
    let text: string;
    try {
      text = strictUtf8.decode(new Uint8Array(bytes));
    } catch {
      throw new Regime3DecodeError('literal bytes are not valid UTF-8', start);
    }
    let atom: Expr | null = null;
    try {
      atom = parse(text);
    } catch {
      atom = null;
    }
    if (!atom || atom.kind === 'list' || atom.text !== text) {
      throw new Regime3DecodeError(`literal ${JSON.stringify(text)} is not one atom in normal form`, start);
    }
    out.push({ token: text, at: start });
  }
  return out;
}

/** Canonical (normalized) text of a code sequence; Regime3DecodeError when malformed. */
export function decode(book: Codebook, codeText: string): string {
  const codes = splitCodes(codeText);
  if (codes.length === 0) throw new Regime3DecodeError('no codes to decode', 0, 'char');
  const toks = expand(book, codes);
  const stack: { items: Expr[]; at: number }[] = [];
  let root: Expr | undefined;
  const emit = (e: Expr, at: number): void => {
    const top = stack[stack.length - 1];
    if (top) {
      if (top.items.length === 0 && e.kind !== 'symbol') throw new Regime3DecodeError(`operator must be a symbol, got ${e.kind === 'list' ? 'a list' : e.text}`, at);
      top.items.push(e);
    } else if (root !== undefined) throw new Regime3DecodeError('codes continue after a complete expression', at);
    else root = e;
  };
  for (const { token, at } of toks) {
    if (token === '(') {
      if (!stack.length && root !== undefined) throw new Regime3DecodeError('codes continue after a complete expression', at);
      stack.push({ items: [], at });
    } else if (token === ')') {
      const top = stack.pop();
      if (!top) throw new Regime3DecodeError("')' with no open '('", at);
      if (top.items.length === 0) throw new Regime3DecodeError("empty list '()'", at);
      emit({ kind: 'list', items: top.items }, top.at);
    } else emit(parse(token) as Expr, at);
  }
  if (stack.length > 0) throw new Regime3DecodeError(`${stack.length} list${stack.length > 1 ? 's' : ''} left open (missing ')')`, stack[stack.length - 1].at);
  return print(root!);
}
