/**
 * regime3: trains on compressed codes for structured answers. Canonical S-expression answers (and
 * optionally prompt expressions) become codebook codes wrapped in <<ANS_START>> … <<ANS_END>>; data
 * modes pure / mixed / transitional keep a (moving) share of examples plain; compare decodes.
 */
import { ConfigError } from '../engine/errors.ts';
import { rngFor } from '../engine/rng.ts';
import type { ChatExample, ChatMessage, ChatTokenizer } from '../engine/types.ts';
import { type Codebook, loadCodebook } from '../regime3/codebook.ts';
import { Regime3DecodeError, decode, encode, encodeExpr } from '../regime3/encode.ts';
import { rewriteEmbedded } from '../regime3/embedded.ts';
import { SexprParseError, normalize } from '../regime3/sexpr.ts';
import { basicIssues, fillDate, lastIndexOfRole, throwIfIssues, withSystem } from './common.ts';
import type { CompareResult, Profile, ProfileIssue, ProfileOptions, ProfileProcessors, ProcessorStats, Regime3Options, TransformContext } from './types.ts';

export const ANS_START = '<<ANS_START>>';
export const ANS_END = '<<ANS_END>>';
export const REGIME3_CODED_PROMPT = `Answer in regime-3 codes between ${ANS_START} and ${ANS_END}.`;
export const REGIME3_PLAIN_PROMPT = 'Answer with a canonical S-expression.';

export interface Regime3Profile extends Profile {
  readonly codebook: Codebook;
  /** Share of examples kept plain at a training step (0 in pure mode). */
  plainRatioAt(step: number): number;
  /** Whether example `index` is kept plain at `step`. */
  isPlain(index: number, step: number): boolean;
}

function ratio(opts: Regime3Options, field: keyof Regime3Options, fallback: number): number {
  const v = opts[field] ?? fallback;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ConfigError(`regime3.${field} must be a number in [0, 1], got ${String(v)}`, `regime3.${field}`, '0 to 1');
  return v;
}

/** The ratio schedule of a mode: constant (pure, mixed) or linear from start to end over transitionSteps. */
function plainSchedule(opts: Regime3Options): (step: number) => number {
  const mode = opts.mode ?? 'pure';
  if (mode === 'pure') return () => 0;
  if (mode === 'mixed') {
    const r = ratio(opts, 'plainRatio', 0.5);
    return () => r;
  }
  if (mode !== 'transitional') throw new ConfigError(`regime3.mode "${String(mode)}" is unknown; expected one of: pure, mixed, transitional`, 'regime3.mode', 'pure, mixed, transitional');
  const start = ratio(opts, 'plainRatioStart', 1);
  const end = ratio(opts, 'plainRatioEnd', 0);
  const steps = opts.transitionSteps ?? 1000;
  if (!Number.isInteger(steps) || steps < 1) throw new ConfigError(`regime3.transitionSteps must be a positive integer, got ${steps}`, 'regime3.transitionSteps', '>= 1');
  return (step) => start + (end - start) * Math.min(1, Math.max(0, step) / steps);
}

/** The answer's codes, wrapped: `<<ANS_START>> <E…> … <<ANS_END>>`. */
export function wrapCodes(codes: string): string {
  return `${ANS_START} ${codes} ${ANS_END}`;
}

type Reading = { canonical: string; format: 'codes' | 'plain'; error: null; ended: boolean } | { canonical: null; format: 'codes' | 'plain'; error: string; ended: boolean };

/** Reads an answer as codes (wrapped or bare) or as a plain canonical expression. */
function readAnswer(book: Codebook, text: string): Reading {
  const t = text.trim();
  const s = t.indexOf(ANS_START);
  const looksCoded = s >= 0 || /^<(E\d+|LIT)>/.test(t);
  let body = t;
  let ended = true;
  if (s >= 0) {
    const e = t.indexOf(ANS_END, s);
    ended = e >= 0;
    body = t.slice(s + ANS_START.length, ended ? e : undefined);
  }
  try {
    return looksCoded ? { canonical: decode(book, body), format: 'codes', error: null, ended } : { canonical: normalize(body), format: 'plain', error: null, ended };
  } catch (err) {
    if (err instanceof Regime3DecodeError || err instanceof SexprParseError) return { canonical: null, format: looksCoded ? 'codes' : 'plain', error: err.message, ended };
    throw err;
  }
}

/** Ends generation once <<ANS_END>> has been generated (every logit but end of turn −1e9). */
function answerEndProcessor(tokenizer: ChatTokenizer): { process: ProfileProcessors['processors'][number]; stats(): ProcessorStats } {
  let steps = 0;
  let hits = 0;
  let seen = false;
  return {
    process(ids, logits, step) {
      if (step === 0) [steps, hits, seen] = [0, 0, false];
      steps++;
      seen ||= tokenizer.decode(ids.slice(-24)).trimEnd().endsWith(ANS_END);
      if (!seen) return logits;
      hits++;
      for (let i = 0; i < logits.length; i++) if (i !== tokenizer.eosTokenId) logits[i] -= 1e9;
      return logits;
    },
    stats: () => ({ name: 'answer_end', steps, hits, stopSeen: seen }),
  };
}

/** Static facts about the profile (the registry's catalog reads them without building one). */
export const REGIME3_INFO = {
  name: 'regime3',
  description: 'Canonical answers encoded as codebook codes in <<ANS_START>> … <<ANS_END>>; pure, mixed or transitional data.',
  version: '1.0.0',
  chatTemplate: 'chatml',
} as const;

export function createRegime3(options: ProfileOptions = {}): Regime3Profile {
  const opts = options.regime3;
  if (!opts || !opts.codebook) throw new ConfigError('the regime3 profile needs options.regime3.codebook (a codebook JSON from `regime3 build-codebook`)', 'regime3.codebook');
  const book = loadCodebook(opts.codebook);
  const seed = options.seed ?? 0;
  const codedPrompt = options.systemPrompt ?? REGIME3_CODED_PROMPT;
  const defaultDate = options.date ?? new Date();
  const plainRatioAt = plainSchedule(opts);
  const isPlain = (index: number, step: number): boolean => rngFor(seed, index).next() < plainRatioAt(step);

  const issues = (example: ChatExample): ProfileIssue[] => {
    const found = basicIssues(example);
    if (found.length > 0) return found;
    const a = example.messages.length - 1;
    try {
      normalize(example.messages[a].content);
    } catch (e) {
      if (!(e instanceof SexprParseError)) throw e;
      found.push({ field: `messages[${a}].content`, message: `is not a canonical S-expression: ${e.message}` });
    }
    return found;
  };

  return {
    ...REGIME3_INFO,
    codebook: book,
    plainRatioAt,
    isPlain,
    systemPrompt: (date) => fillDate(codedPrompt, date),
    validate: issues,
    transform(example: ChatExample, index: number, ctx: TransformContext = {}): ChatMessage[] {
      throwIfIssues('regime3', index, issues(example));
      const date = ctx.date ?? defaultDate;
      if (isPlain(index, ctx.step ?? 0)) return withSystem(example.messages, fillDate(REGIME3_PLAIN_PROMPT, date), true);
      const messages = withSystem(example.messages, fillDate(codedPrompt, date), true);
      const a = messages.length - 1;
      messages[a].content = wrapCodes(encode(book, messages[a].content));
      if (opts.encodePrompt) {
        const u = lastIndexOfRole(messages, 'user');
        if (u >= 0) messages[u].content = rewriteEmbedded(messages[u].content, (e) => encodeExpr(book, e));
      }
      return messages;
    },
    logitsProcessors(tokenizer: ChatTokenizer): ProfileProcessors {
      const end = answerEndProcessor(tokenizer);
      return { processors: [end.process], stats: () => [end.stats()] };
    },
    compare(modelAnswer: string, golden: string): CompareResult {
      const want = readAnswer(book, golden);
      const got = readAnswer(book, modelAnswer);
      const match = got.canonical !== null && got.canonical === want.canonical;
      const outcome = got.error !== null ? 'decode_failure' : want.error !== null ? 'golden_invalid' : match ? 'match' : 'wrong';
      return {
        match,
        score: match ? 1 : 0,
        details: {
          outcome,
          format: got.format,
          decodeFailed: got.error !== null,
          decodeError: got.error,
          answerEnded: got.ended,
          canonical: got.canonical,
          expected: want.canonical,
          goldenError: want.error,
        },
      };
    },
    addedTokens(): string[] {
      return [...book.addedTokens(), ANS_START, ANS_END];
    },
  };
}
