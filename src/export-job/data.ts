/**
 * One queued file → chat-format JSONL as the trainer sees it: its examples as the profile makes them
 * (profiles/transformed-file.ts, the trainer's own reading; drawn eval-set rows left out), held-out indices to the
 * eval side. Lines are folded
 * into Blobs as they come, so a large file is never one string.
 */
import type { ChatMessage } from '../engine/types.ts';
import { forEachTransformedExample, type TransformedFileOptions } from '../profiles/transformed-file.ts';

/** JSONL lines gathered into a Blob every FOLD_CHARS characters. */
const FOLD_CHARS = 4 * 1024 * 1024;

export class JsonlSink {
  private blob = new Blob([]);
  private pending: string[] = [];
  private chars = 0;
  count = 0;

  add(messages: readonly ChatMessage[]): void {
    const line = `${JSON.stringify({ messages: messages.map((m) => ({ role: m.role, content: m.content })) })}\n`;
    this.pending.push(line);
    this.chars += line.length;
    this.count++;
    if (this.chars >= FOLD_CHARS) this.fold();
  }

  private fold(): void {
    this.blob = new Blob([this.blob, ...this.pending], { type: 'application/jsonl' });
    this.pending = [];
    this.chars = 0;
  }

  done(): Blob {
    this.fold();
    return this.blob;
  }
}

export interface TransformFileOptions extends TransformedFileOptions {
  /** Example indices held out for validation: written to `eval`. */
  heldOut: readonly number[];
}

/** Appends the file's transformed examples to `train` and `evalSink`; returns how many went to each. */
export async function transformFile(blob: Blob, o: TransformFileOptions, train: JsonlSink, evalSink: JsonlSink): Promise<{ train: number; eval: number }> {
  const held = new Set(o.heldOut);
  const before = { train: train.count, eval: evalSink.count };
  await forEachTransformedExample(blob, o, (messages, i) => (held.has(i) ? evalSink : train).add(messages));
  return { train: train.count - before.train, eval: evalSink.count - before.eval };
}
