/** Finds S-expressions embedded in free text (e.g. a prompt) and rewrites each with a function. */
import { type Expr, parse } from './sexpr.ts';

/** End (exclusive) of the balanced list starting at `start` (a `(`), skipping JSON strings; -1 if none. */
function matchingParen(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/** Replaces every maximal `( … )` span that parses as a list; other text is kept as it is. */
export function rewriteEmbedded(text: string, rewrite: (expr: Expr) => string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('(', i);
    if (open < 0) break;
    const end = matchingParen(text, open);
    let expr: Expr | null = null;
    if (end > 0) {
      try {
        expr = parse(text.slice(open, end));
      } catch {
        expr = null;
      }
    }
    if (expr) {
      out += text.slice(i, open) + rewrite(expr);
      i = end;
    } else {
      out += text.slice(i, open + 1);
      i = open + 1;
    }
  }
  return out + text.slice(i);
}
