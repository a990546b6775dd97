/**
 * Regime-3 canonical form: S-expressions `(op arg ...)` over numbers, JSON strings and symbols.
 * Parser (errors give line and column), printer, and the normalizer (print ∘ parse), which changes
 * only whitespace and the spelling of numbers (`1.50` → `1.5`, `+3` → `3`), never order or case.
 */

export type Atom = { kind: 'number' | 'string' | 'symbol'; text: string };
export type List = { kind: 'list'; items: Expr[] };
export type Expr = Atom | List;

/** A text that is not a valid canonical expression; `offset` is 0-based, `line`/`column` 1-based. */
export class SexprParseError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`);
    this.name = 'SexprParseError';
  }
}

const NUMBER = /^([+-]?)(\d+\.?\d*|\.\d+)$/;
const DELIMITER = /[\s()"]/;

/** The normal spelling of a number atom: no `+`, no leading or trailing zeros, no `-0`. */
export function normalizeNumber(text: string): string {
  const m = NUMBER.exec(text);
  if (!m) throw new Error(`not a number atom: ${JSON.stringify(text)}`);
  const [intRaw, fracRaw = ''] = m[2].split('.');
  const int = intRaw.replace(/^0+/, '') || '0';
  const frac = fracRaw.replace(/0+$/, '');
  const negative = m[1] === '-' && !(int === '0' && frac === '');
  return `${negative ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/** Classifies one run of non-delimiter characters (numbers normalized). */
export function bareAtom(text: string): Atom {
  return NUMBER.test(text) ? { kind: 'number', text: normalizeNumber(text) } : { kind: 'symbol', text };
}

function fail(src: string, offset: number, reason: string): never {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  throw new SexprParseError(reason, offset, line, col);
}

/** End offset (exclusive) of the JSON string starting at `start` (a `"`), checking escapes. */
function scanString(src: string, start: number): number {
  let i = start + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === '"') return i + 1;
    if (c === '\\') {
      const e = src[i + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(src.slice(i + 2, i + 6))) fail(src, i, 'invalid \\u escape in string (needs 4 hex digits)');
        i += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
      else fail(src, i, `invalid escape \\${e ?? ''} in string`);
      continue;
    }
    if (c.charCodeAt(0) < 0x20) fail(src, i, 'control character in string (use a JSON escape)');
    i++;
  }
  return fail(src, start, 'unterminated string');
}

function loneSurrogate(src: string): number {
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < src.length && (src.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else if (c >= 0xd800 && c <= 0xdfff) return i;
  }
  return -1;
}

/** Parses exactly one expression (surrounding whitespace allowed). Iterative: any nesting depth. */
export function parse(src: string): Expr {
  const lone = loneSurrogate(src);
  if (lone >= 0) fail(src, lone, 'lone UTF-16 surrogate (not valid Unicode)');
  const stack: { items: Expr[]; open: number }[] = [];
  let root: Expr | undefined;
  let i = 0;
  const emit = (e: Expr, at: number): void => {
    if (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.items.length === 0 && e.kind !== 'symbol') fail(src, at, `operator must be a symbol, got ${e.kind === 'list' ? 'a list' : `the ${e.kind} ${e.text}`}`);
      top.items.push(e);
    } else if (root !== undefined) fail(src, at, 'unexpected text after the expression');
    else root = e;
  };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      if (stack.length === 0 && root !== undefined) fail(src, i, 'unexpected text after the expression');
      stack.push({ items: [], open: i });
      i++;
    } else if (c === ')') {
      const top = stack.pop();
      if (!top) fail(src, i, "unexpected ')' with no open '('");
      if (top.items.length === 0) fail(src, top.open, "empty list '()': expected an operator after '('");
      i++;
      emit({ kind: 'list', items: top.items }, top.open);
    } else {
      const start = i;
      if (c === '"') i = scanString(src, i);
      else while (i < src.length && !DELIMITER.test(src[i])) i++;
      if (i < src.length && !/[\s()]/.test(src[i])) fail(src, i, 'expected whitespace or a parenthesis after an atom');
      const text = src.slice(start, i);
      emit(c === '"' ? { kind: 'string', text } : bareAtom(text), start);
    }
  }
  if (stack.length > 0) fail(src, stack[stack.length - 1].open, `unclosed '(' (${stack.length} list${stack.length > 1 ? 's' : ''} left open)`);
  if (root === undefined) fail(src, 0, 'empty input: expected an expression');
  return root;
}

/** Canonical text: lists as `(op a b)` with single spaces, atoms in normal spelling. */
export function print(expr: Expr): string {
  return tokens(expr).reduce((out, t) => (out === '' || out.endsWith('(') || t === ')' ? out + t : `${out} ${t}`), '');
}

/** The expression as base tokens: `(`, `)` and atom texts, in order. Iterative. */
export function tokens(expr: Expr): string[] {
  const out: string[] = [];
  const todo: (Expr | ')')[] = [expr];
  while (todo.length > 0) {
    const e = todo.pop()!;
    if (e === ')') out.push(')');
    else if (e.kind === 'list') {
      out.push('(');
      todo.push(')');
      for (let k = e.items.length - 1; k >= 0; k--) todo.push(e.items[k]);
    } else out.push(e.text);
  }
  return out;
}

export function normalize(src: string): string {
  return print(parse(src));
}
