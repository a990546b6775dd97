/**
 * Streaming line reader over a byte stream (Blob.stream() in a browser or worker, a file in Node via
 * node-io.ts): yields each non-blank line with its 1-based number, never holding the whole file as
 * one string. Handles a UTF-8 BOM, CRLF, multibyte characters split across chunks and a missing final newline.
 */

export interface JsonlLine {
  /** 1-based physical line number (blank lines are counted, not yielded). */
  line: number;
  text: string;
}

export interface ReadLinesOptions {
  /** Called after each chunk with the bytes consumed so far. */
  onBytes?: (bytesRead: number) => void;
  signal?: AbortSignal;
  /** A line longer than this many characters is an error (default 64 Mi chars). */
  maxLineChars?: number;
}

/** A line longer than the allowed maximum (a file that is not JSONL, or one giant row). */
export class LineTooLongError extends Error {
  constructor(readonly line: number, readonly maxChars: number) {
    super(`line ${line} is longer than ${maxChars} characters`);
    this.name = 'LineTooLongError';
  }
}

/** Reads lines from a UTF-8 byte stream; the stream is released (cancelled) if the consumer stops early. */
export async function* readLines(stream: ReadableStream<Uint8Array>, opts: ReadLinesOptions = {}): AsyncGenerator<JsonlLine> {
  const maxChars = opts.maxLineChars ?? 64 * 1024 * 1024;
  const reader = stream.getReader();
  // fatal: false replaces invalid bytes with U+FFFD; ignoreBOM: false strips a leading BOM.
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let lineNo = 0;
  let bytes = 0;
  let done = false;
  try {
    while (!done) {
      opts.signal?.throwIfAborted();
      const r = await reader.read();
      let chunk: string;
      if (r.done) {
        done = true;
        chunk = decoder.decode();
      } else {
        bytes += r.value.byteLength;
        chunk = decoder.decode(r.value, { stream: true });
      }
      let from = 0;
      let nl = chunk.indexOf('\n');
      while (nl >= 0) {
        const text = pending + chunk.slice(from, nl);
        pending = '';
        lineNo++;
        const line = text.endsWith('\r') ? text.slice(0, -1) : text;
        if (line.length > maxChars) throw new LineTooLongError(lineNo, maxChars);
        if (line.trim().length > 0) yield { line: lineNo, text: line };
        from = nl + 1;
        nl = chunk.indexOf('\n', from);
      }
      pending += chunk.slice(from);
      if (pending.length > maxChars) throw new LineTooLongError(lineNo + 1, maxChars);
      if (!r.done) opts.onBytes?.(bytes);
    }
    if (pending.length > 0) {
      lineNo++;
      const line = pending.endsWith('\r') ? pending.slice(0, -1) : pending;
      if (line.trim().length > 0) yield { line: lineNo, text: line };
    }
    opts.onBytes?.(bytes);
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

