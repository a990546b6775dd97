/**
 * Regime-3 codebook: built from a corpus of canonical expressions (frequent base tokens get codes
 * `<E000>`…, then byte-pair-style merges of frequent adjacent codes), loaded and checked from its
 * versioned JSON. Atoms without a code are spelled as literal UTF-8 bytes (see encode.ts).
 */
import { ValidationError } from '../engine/errors.ts';
import type { CodebookData, CodebookEntry } from './codebook-types.ts';
import { SexprParseError, parse, tokens } from './sexpr.ts';

export const CODEBOOK_FORMAT = 'regime3-codebook';
export const CODEBOOK_VERSION = 1;
export const LITERAL_BEGIN = '<LIT>';
export const LITERAL_END = '</LIT>';
export const MAX_CODEBOOK_SIZE = 100_000;

export function codeName(i: number): string {
  return `<E${String(i).padStart(3, '0')}>`;
}

/** The literal code of one UTF-8 byte: `<L00>` … `<LFF>`. */
export function byteCode(b: number): string {
  return `<L${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

export interface BuildOptions {
  /** Number of `<E…>` codes, including `(` and `)`. At least 2. */
  size: number;
  /** Codes kept for merges; default a quarter of `size`. Base tokens left over also go to merges. */
  merges?: number;
  /** A token or pair needs at least this many occurrences to get a code. Default 2. */
  minCount?: number;
}

/** A codebook ready for encoding and decoding. */
export class Codebook {
  readonly codes: string[];
  /** Base token → item index. */
  readonly tokenItem = new Map<string, number>();
  /** `left,right` item pair → merged item index (its rank). */
  readonly mergeItem = new Map<string, number>();
  readonly codeItem = new Map<string, number>();
  /** Base tokens each item expands to. */
  readonly expansion: string[][] = [];

  constructor(readonly data: CodebookData) {
    this.codes = data.entries.map((e) => e.code);
    data.entries.forEach((e, i) => {
      this.codeItem.set(e.code, i);
      if ('token' in e) {
        this.tokenItem.set(e.token, i);
        this.expansion.push([e.token]);
      } else {
        const [l, r] = e.merge.map((c) => this.codeItem.get(c)!);
        this.mergeItem.set(`${l},${r}`, i);
        this.expansion.push([...this.expansion[l], ...this.expansion[r]]);
      }
    });
  }

  /** Every token the tokenizer must know: the codes, the literal markers and the 256 byte codes. */
  addedTokens(): string[] {
    const bytes = Array.from({ length: 256 }, (_, b) => byteCode(b));
    return [...this.codes, this.data.literal.begin, this.data.literal.end, ...bytes];
  }

  toJSON(): CodebookData {
    return this.data;
  }
}

/** Parses each expression; a bad one is a ValidationError naming its 1-based position in the corpus. */
function corpusTokens(expressions: readonly string[], file?: string): string[][] {
  return expressions.map((src, i) => {
    try {
      return tokens(parse(src));
    } catch (e) {
      if (e instanceof SexprParseError) throw new ValidationError(`expression ${i + 1}: ${e.message}`, file, i + 1);
      throw e;
    }
  });
}

function pairKey(a: number, b: number): string {
  return `${a},${b}`;
}

/** Builds a codebook from canonical expressions. Deterministic (same corpus, same JSON): ties break by text, then by code order. */
export function buildCodebook(expressions: readonly string[], opts: BuildOptions, file?: string): CodebookData {
  const { size } = opts;
  const minCount = opts.minCount ?? 2;
  if (!Number.isInteger(size) || size < 2 || size > MAX_CODEBOOK_SIZE) {
    throw new ValidationError(`codebook size must be an integer in [2, ${MAX_CODEBOOK_SIZE}], got ${size}`, undefined, undefined, 'size');
  }
  const mergeBudget = opts.merges ?? Math.floor(size / 4);
  if (!Number.isInteger(mergeBudget) || mergeBudget < 0 || mergeBudget > size - 2) {
    throw new ValidationError(`merges must be an integer in [0, ${size - 2}], got ${mergeBudget}`, undefined, undefined, 'merges');
  }
  const corpus = corpusTokens(expressions, file);
  const counts = new Map<string, number>();
  for (const seq of corpus) for (const t of seq) if (t !== '(' && t !== ')') counts.set(t, (counts.get(t) ?? 0) + 1);
  const base = [...counts.entries()]
    .filter(([, n]) => n >= minCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, size - 2 - mergeBudget)
    .map(([t]) => t);
  const entries: CodebookEntry[] = ['(', ')', ...base].map((token, i) => ({ code: codeName(i), token }));
  const item = new Map(entries.map((e, i) => [(e as { token: string }).token, i]));
  // Units: item index, or -1 for an atom without a code (a barrier merges never cross).
  let seqs = corpus.map((seq) => seq.map((t) => item.get(t) ?? -1));
  while (entries.length < size) {
    const pairs = new Map<string, number>();
    for (const s of seqs) for (let k = 0; k + 1 < s.length; k++) if (s[k] >= 0 && s[k + 1] >= 0) {
      const key = pairKey(s[k], s[k + 1]);
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
    }
    let best: [number, number] | null = null;
    let bestCount = minCount - 1;
    for (const [key, n] of pairs) {
      const [a, b] = key.split(',').map(Number);
      if (n > bestCount || (n === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        if (n >= minCount) {
          best = [a, b];
          bestCount = n;
        }
      }
    }
    if (!best) break;
    const id = entries.length;
    entries.push({ code: codeName(id), merge: [codeName(best[0]), codeName(best[1])] });
    seqs = seqs.map((s) => applyMerge(s, best[0], best[1], id));
  }
  const tokenCount = corpus.reduce((n, s) => n + s.length, 0);
  return {
    format: CODEBOOK_FORMAT,
    version: CODEBOOK_VERSION,
    size: entries.length,
    entries,
    literal: { begin: LITERAL_BEGIN, end: LITERAL_END },
    built: { expressions: expressions.length, tokens: tokenCount },
  };
}

/** Replaces each non-overlapping occurrence of (a, b), left to right, with `id`. */
export function applyMerge(seq: readonly number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < seq.length; k++) {
    if (k + 1 < seq.length && seq[k] === a && seq[k + 1] === b) {
      out.push(id);
      k++;
    } else out.push(seq[k]);
  }
  return out;
}

function bad(file: string | undefined, field: string, message: string): never {
  throw new ValidationError(`codebook${file ? ` ${file}` : ''}: ${field} ${message}`, file, undefined, field);
}

/** Checks a parsed codebook JSON (format, version, code order, tokens, merges) and makes it usable. */
export function loadCodebook(json: unknown, file?: string): Codebook {
  const d = json as Partial<CodebookData> | null;
  if (!d || typeof d !== 'object') bad(file, 'root', 'must be a JSON object');
  if (d.format !== CODEBOOK_FORMAT) bad(file, 'format', `must be "${CODEBOOK_FORMAT}", got ${JSON.stringify(d.format)}`);
  if (d.version !== CODEBOOK_VERSION) bad(file, 'version', `${JSON.stringify(d.version)} is not supported (this build reads version ${CODEBOOK_VERSION})`);
  if (!Array.isArray(d.entries) || d.entries.length < 2) bad(file, 'entries', 'must be an array with at least "(" and ")"');
  if (d.size !== d.entries.length) bad(file, 'size', `is ${JSON.stringify(d.size)} but there are ${d.entries.length} entries`);
  if (!d.literal || d.literal.begin !== LITERAL_BEGIN || d.literal.end !== LITERAL_END) {
    bad(file, 'literal', `must be {"begin": "${LITERAL_BEGIN}", "end": "${LITERAL_END}"}`);
  }
  const seen = new Set<string>();
  d.entries.forEach((e: unknown, i: number) => {
    const f = `entries[${i}]`;
    const entry = e as Record<string, unknown> | null;
    if (!entry || typeof entry !== 'object') bad(file, f, 'must be an object');
    if (entry.code !== codeName(i)) bad(file, `${f}.code`, `must be ${codeName(i)}, got ${JSON.stringify(entry.code)}`);
    if ('token' in entry) {
      const t = entry.token;
      if (typeof t !== 'string') bad(file, `${f}.token`, 'must be a string');
      const paren = i === 0 ? '(' : ')';
      if (i < 2 && t !== paren) bad(file, `${f}.token`, `must be "${paren}"`);
      if (i >= 2 && !isNormalAtom(t)) bad(file, `${f}.token`, `${JSON.stringify(t)} is not one atom in normal form`);
      if (seen.has(t)) bad(file, `${f}.token`, `${JSON.stringify(t)} appears twice`);
      seen.add(t);
    } else if (Array.isArray(entry.merge) && entry.merge.length === 2) {
      if (i < 2) bad(file, f, `must be the token "${i === 0 ? '(' : ')'}"`);
      entry.merge.forEach((c: unknown, k: number) => {
        const j = typeof c === 'string' ? /^<E(\d+)>$/.exec(c) : null;
        if (!j || Number(j[1]) >= i || c !== codeName(Number(j[1]))) bad(file, `${f}.merge[${k}]`, `must name a code defined before ${codeName(i)}, got ${JSON.stringify(c)}`);
      });
      const key = `merge ${entry.merge.join(' ')}`;
      if (seen.has(key)) bad(file, `${f}.merge`, `${entry.merge.join(' ')} is merged twice`);
      seen.add(key);
    } else bad(file, f, 'must have "token" (a string) or "merge" (two codes)');
  });
  return new Codebook(d as CodebookData);
}

/** True when `t` parses as exactly one atom and is already in normal spelling. */
export function isNormalAtom(t: string): boolean {
  try {
    const e = parse(t);
    return e.kind !== 'list' && e.text === t;
  } catch {
    return false;
  }
}
