/**
 * Streaming validator of a chat JSONL file: reads it line by line, normalises each row, counts tokens
 * with the chat template and reports errors (with line and field), warnings and token statistics in
 * bounded memory. Used by the validator worker on a Blob's stream and by the `validate` CLI command.
 */
import type { ChatExample, ChatTemplateKind, ChatTokenizer } from '../types.ts';

/** One bad line: 1-based line number, the offending field path (`messages[2].role`, `$` for the whole row). */
export interface LineError {
  line: number;
  field: string;
  message: string;
}

export type ValidationWarningKind = 'duplicates' | 'truncated' | 'answer_leak';
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
}

export interface ValidationReport {
  /** False when any file error or any line error (unless skipInvalidLines) was found. */
  valid: boolean;
  file?: string;
  bytes: number;
  /** Physical lines read (blank lines included). */
  lines: number;
  /** Non-blank lines that normalised and passed every rule. */
  validLines: number;
  invalidLines: number;
  /** Examples kept (= validLines). */
  examples: number;
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
  signal?: AbortSignal;
}

/** Validates a JSONL stream. Resolves with the report; never throws on bad data (only on abort). */
export async function validateStream(stream: ReadableStream<Uint8Array>, opts: ValidateOptions): Promise<ValidationReport> {
  void stream;
  void opts;
  throw new Error('validateStream: being implemented (signature committed first)');
}
