/**
 * Streaming validator of a chat JSONL file: reads it line by line, normalises each row, counts tokens
 * with the chat template and reports errors (with line and field), warnings and token statistics in
 * bounded memory. Used by the validator worker on a Blob's stream and by the `validate` CLI command.
 */
import type { ChatExample, ChatMessage, ChatTemplateKind, ChatTokenizer } from '../types.ts';
import { LineTooLongError, readLines } from './jsonl.ts';
import { normalizeRow, type RowShape } from './normalize.ts';
import { fedTokens, lengthHistogram, type LengthHistogram } from './length-stats.ts';

/** One bad line: 1-based line number, the offending field path (`messages[2].role`, `$` for the whole row). */
export interface LineError {
  line: number;
  field: string;
  message: string;
}

export type ValidationWarningKind = 'duplicates' | 'truncated' | 'answer_leak' | 'control_tokens';
/** A warning never makes a file invalid. */
export interface ValidationWarning {
  kind: ValidationWarningKind;
  message: string;
  /** Examples concerned. */
  count: number;
  /** count as a percentage of valid examples, 0–100, two decimals. */
  percent: number;
  /** Up to 20 line numbers concerned (for duplicates: the later copies). */
  lines: number[];
}

/** Whole-conversation token counts (rendered with the chat template) over valid examples. */
export interface TokenStats {
  min: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
  /** Sum of conversation tokens (before truncation). */
  totalTokens: number;
  /** Sum of trained (completion) tokens after truncation at maxLength. */
  trainedTokens: number;
  /** Sum of conversation tokens after truncation at maxLength (what the model reads in one epoch). */
  fedTokens: number;
  /** Conversation lengths against maxLength. */
  histogram: LengthHistogram;
}

export interface ValidationReport {
  /** False when any file error or any line error (unless skipInvalidLines) was found. */
  valid: boolean;
  file?: string;
  bytes: number;
  /** Number of the last line holding data (blank lines before it are counted). */
  lines: number;
  /** Non-blank lines that normalised and passed every rule. */
  validLines: number;
  invalidLines: number;
  /** Examples kept (= validLines). */
  examples: number;
  /** Valid rows per accepted input shape. */
  shapes: Partial<Record<RowShape, number>>;
  maxLength: number;
  template: ChatTemplateKind;
  /** Null when there is no valid example. */
  tokens: TokenStats | null;
  /** Problems of the whole file (empty file, p95 over max_length, no valid example). */
  fileErrors: string[];
  /** Per-line errors, the first `maxErrors` of them; `errorCount` counts all. */
  errors: LineError[];
  errorCount: number;
  warnings: ValidationWarning[];
  /** With skipInvalidLines: the line numbers skipped (first 10,000). */
  skippedLines: number[];
}

export interface ValidateOptions {
  tokenizer: ChatTokenizer;
  maxLength: number;
  /** Chat template used to count tokens; default 'stock'. */
  template?: ChatTemplateKind;
  /** Invalid lines are listed in `skippedLines` and do not make the file invalid. */
  skipInvalidLines?: boolean;
  /** Name shown in the report and messages. */
  file?: string;
  /** Total bytes (Blob.size / stat size) for the progress callback. */
  totalBytes?: number;
  /** Called at most every ~1% / 64 KiB with bytes read so far. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  /**
   * Called for each valid example in file order (awaited, so a consumer can apply back-pressure).
   * If the final report is not valid the consumer must discard what it received.
   */
  onExample?: (example: ChatExample, line: number) => void | Promise<void>;
  /** Cap on errors listed (default 1000); all are counted. */
  maxErrors?: number;
  /** Called for every line error in file order, past `maxErrors` too (a full error report without holding it). */
  onLineError?: (e: LineError) => void;
  signal?: AbortSignal;
}

/** Lines listed per warning and skipped lines kept in the report. */
const MAX_WARNING_LINES = 20;
const MAX_SKIPPED_LINES = 10_000;
/** Text of a special token (`<|fim_pad|>`, `<|vision_start|>` ...): the tokenizer reads it as one control token, not as text. */
const SPECIAL_TOKEN_TEXT = /<\|[a-z_]+\|>/;
/** An answer shorter than this is too common to count as leaked into the prompt. */
const MIN_LEAK_CHARS = 4;

/** Validates a JSONL stream. Resolves with the report; never throws on bad data (only on abort). */
export async function validateStream(stream: ReadableStream<Uint8Array>, opts: ValidateOptions): Promise<ValidationReport> {
  const template = opts.template ?? 'stock';
  const maxErrors = opts.maxErrors ?? 1000;
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) throw new Error(`validateStream: maxLength must be a positive integer, got ${opts.maxLength}`);
  const report: ValidationReport = {
    valid: false,
    file: opts.file,
    bytes: 0,
    lines: 0,
    validLines: 0,
    invalidLines: 0,
    examples: 0,
    shapes: {},
    maxLength: opts.maxLength,
    template,
    tokens: null,
    fileErrors: [],
    errors: [],
    errorCount: 0,
    warnings: [],
    skippedLines: [],
  };
  const lengths = new GrowableInt32();
  let trainedTokens = 0;
  let totalTokens = 0;
  const seen = new Set<string>();
  const duplicates: number[] = [];
  const truncated: number[] = [];
  const leaks: number[] = [];
  /** Lines with chat control tokens: invalid ones (the structural three) and valid ones with other special-token text. */
  const controlLines: number[] = [];
  let controlInvalid = 0;
  let nonBlank = 0;
  let lastProgress = 0;
  const step = Math.max(64 * 1024, Math.floor((opts.totalBytes ?? 0) / 100));
  const onBytes = (b: number) => {
    report.bytes = b;
    if (opts.onProgress && (b - lastProgress >= step || b === opts.totalBytes)) {
      lastProgress = b;
      opts.onProgress(b, opts.totalBytes);
    }
  };
  const lineError = (line: number, field: string, message: string) => {
    report.errorCount++;
    if (report.errors.length < maxErrors) report.errors.push({ line, field, message });
    opts.onLineError?.({ line, field, message });
  };

  try {
    for await (const { line, text } of readLines(stream, { onBytes, signal: opts.signal })) {
      nonBlank++;
      report.lines = line;
      const checked = checkLine(text, opts.tokenizer, template, opts.maxLength);
      if (!checked.ok) {
        report.invalidLines++;
        for (const e of checked.errors) lineError(line, e.field, e.message);
        if (checked.errors.some((e) => e.code === 'control_token')) {
          controlLines.push(line);
          controlInvalid++;
        }
        if (opts.skipInvalidLines && report.skippedLines.length < MAX_SKIPPED_LINES) report.skippedLines.push(line);
        continue;
      }
      const { example, shape, length, trained } = checked;
      report.validLines++;
      report.shapes[shape] = (report.shapes[shape] ?? 0) + 1;
      lengths.push(length);
      totalTokens += length;
      trainedTokens += trained;
      if (length > opts.maxLength) truncated.push(line);
      const key = dedupKey(example.messages);
      if (seen.has(key)) duplicates.push(line);
      else seen.add(key);
      if (answerLeaked(example.messages)) leaks.push(line);
      if (example.messages.some((m) => SPECIAL_TOKEN_TEXT.test(m.content))) controlLines.push(line);
      if (opts.onExample) await opts.onExample(example, line);
    }
  } catch (e) {
    if (!(e instanceof LineTooLongError)) throw e;
    report.fileErrors.push(`${e.message}: not a JSONL file, or a row too large to train on`);
  }
  report.examples = report.validLines;
  if (opts.onProgress && lastProgress !== report.bytes) opts.onProgress(report.bytes, opts.totalBytes);

  if (nonBlank === 0 && report.fileErrors.length === 0) report.fileErrors.push('the file is empty: no JSON lines');
  else if (report.validLines === 0 && report.fileErrors.length === 0) report.fileErrors.push('no valid example in the file');
  if (lengths.length > 0) {
    const sorted = lengths.sorted();
    const n = sorted.length;
    report.tokens = {
      min: sorted[0],
      mean: round2(totalTokens / n),
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      max: sorted[n - 1],
      totalTokens,
      trainedTokens,
      fedTokens: fedTokens(sorted, opts.maxLength),
      histogram: lengthHistogram(sorted, opts.maxLength),
    };
    if (report.tokens.p95 > opts.maxLength) {
      report.fileErrors.push(
        `95% of conversations must fit max_length ${opts.maxLength}, but the 95th percentile is ${report.tokens.p95} tokens; raise max_length or shorten the examples`,
      );
    } else if (truncated.length > 0) {
      report.warnings.push(warning('truncated', truncated, n, `${truncated.length} conversation(s) longer than max_length ${opts.maxLength} (longest ${report.tokens.max} tokens) will be truncated at training`));
    }
    if (duplicates.length > 0) {
      report.warnings.push(warning('duplicates', duplicates, n, `${duplicates.length} duplicate example(s) (same user and assistant text) — ${pct(duplicates.length, n)}% of the file`));
    }
    if (leaks.length > 0) {
      report.warnings.push(warning('answer_leak', leaks, n, `${leaks.length} example(s) contain the assistant's answer verbatim in the prompt`));
    }
  }
  if (controlLines.length > 0) {
    controlLines.sort((a, b) => a - b);
    const special = controlLines.length - controlInvalid;
    const parts = [
      controlInvalid ? `${controlInvalid} line(s) contain a chat control token (<|im_start|>, <|im_end|>, <|endoftext|>) and are ${opts.skipInvalidLines ? 'skipped' : 'invalid'}` : '',
      special ? `${special} example(s) contain special-token text (such as <|fim_pad|>) that the tokenizer reads as one control token` : '',
    ];
    report.warnings.push(warning('control_tokens', controlLines, nonBlank, parts.filter(Boolean).join('; ')));
  }
  report.valid = report.fileErrors.length === 0 && (report.errorCount === 0 || opts.skipInvalidLines === true);
  return report;
}

type CheckedLine =
  | { ok: true; example: ChatExample; shape: RowShape; length: number; trained: number }
  | { ok: false; errors: { field: string; message: string; code?: 'control_token' }[] };

/** Parses, normalises and tokenizes one line. */
function checkLine(text: string, tokenizer: ChatTokenizer, template: ChatTemplateKind, maxLength: number): CheckedLine {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ field: '$', message: `invalid JSON: ${(e as Error).message}` }] };
  }
  const norm = normalizeRow(row);
  if (!norm.ok) return norm;
  try {
    const { ids, trainMask } = tokenizer.encodeChat(norm.example.messages, { template });
    return { ok: true, example: norm.example, shape: norm.shape, length: ids.length, trained: countTrained(trainMask, Math.min(ids.length, maxLength)) };
  } catch (e) {
    return { ok: false, errors: [{ field: (e as { field?: string }).field ?? 'messages', message: `cannot tokenize: ${(e as Error).message}` }] };
  }
}

/** Trained tokens among the first upTo (what survives truncation at max_length). */
function countTrained(mask: Uint8Array, upTo: number): number {
  let n = 0;
  for (let i = 0; i < upTo; i++) n += mask[i];
  return n;
}

/** Hash of the user and assistant text, in order (system prompts do not make an example distinct). */
function dedupKey(messages: readonly ChatMessage[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x12345678;
  for (const m of messages) {
    if (m.role === 'system') continue;
    const s = `${m.role === 'user' ? 'u' : 'a'}\u0000${m.content}\u0001`;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
  }
  return (h1 >>> 0).toString(36) + ':' + (h2 >>> 0).toString(36);
}

/** True when some assistant answer appears verbatim, as whole words, in the system/user text before it. */
export function answerLeaked(messages: readonly ChatMessage[]): boolean {
  let prompt = '';
  for (const m of messages) {
    if (m.role !== 'assistant') {
      prompt += `${m.content}\n`;
      continue;
    }
    const answer = m.content.trim();
    if (answer.length < MIN_LEAK_CHARS) continue;
    for (let at = prompt.indexOf(answer); at >= 0; at = prompt.indexOf(answer, at + 1)) {
      const before = at > 0 ? prompt[at - 1] : ' ';
      const after = prompt[at + answer.length] ?? ' ';
      if (!isWordChar(before) || !isWordChar(answer[0])) {
        if (!isWordChar(after) || !isWordChar(answer[answer.length - 1])) return true;
      }
    }
  }
  return false;
}

function isWordChar(c: string): boolean {
  return /[\p{L}\p{N}_]/u.test(c);
}

function warning(kind: ValidationWarning['kind'], lines: number[], total: number, message: string): ValidationWarning {
  return { kind, message, count: lines.length, percent: pct(lines.length, total), lines: lines.slice(0, MAX_WARNING_LINES) };
}

function pct(n: number, total: number): number {
  return round2((100 * n) / total);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Int32Array, q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** Conversation lengths: 4 bytes per example, so 100k examples stay at 400 KB. */
class GrowableInt32 {
  private buf = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const b = new Int32Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.length++] = v;
  }
  sorted(): Int32Array {
    return this.buf.slice(0, this.length).sort();
  }
}
