/**
 * One queued file → chat-format JSONL as the trainer sees it: streamed through the engine's validator (the same
 * valid examples and indices as at queue time, skipped invalid lines included), each example through the
 * profile's transform, held-out indices to the eval side, examples drawn as an eval set left out. Lines are folded
 * into Blobs as they come, so a large file is never one string.
 */
import { validateStream } from '../engine/data/validate.ts';
import type { ChatMessage, ChatTokenizer } from '../engine/types.ts';
import type { Profile } from '../profiles/index.ts';

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

export interface TransformFileOptions {
  name: string;
  tokenizer: ChatTokenizer;
  profile: Profile;
  maxLength: number;
  skipInvalidLines: boolean;
  /** Example indices held out for validation: written to `eval`. */
  heldOut: readonly number[];
  /** Example indices drawn as an eval set: written nowhere. */
  excluded?: readonly number[];
  /** Global step the file starts at (regime-3's transitional mix reads it). */
  step: number;
}

/** Appends the file's transformed examples to `train` and `evalSink`; returns how many went to each. */
export async function transformFile(blob: Blob, o: TransformFileOptions, train: JsonlSink, evalSink: JsonlSink): Promise<{ train: number; eval: number }> {
  const held = new Set(o.heldOut);
  const excluded = new Set(o.excluded ?? []);
  const before = { train: train.count, eval: evalSink.count };
  let index = 0;
  const report = await validateStream(blob.stream() as ReadableStream<Uint8Array>, {
    tokenizer: o.tokenizer,
    maxLength: o.maxLength,
    template: o.profile.chatTemplate,
    skipInvalidLines: o.skipInvalidLines,
    file: o.name,
    maxErrors: 5,
    onExample: (example, line) => {
      const i = index++;
      if (excluded.has(i)) return;
      let messages: ChatMessage[];
      try {
        messages = o.profile.transform(example, i, { step: o.step });
      } catch (e) {
        throw new Error(`"${o.name}" line ${line}: ${e instanceof Error ? e.message : String(e)}`);
      }
      (held.has(i) ? evalSink : train).add(messages);
    },
  });
  if (!report.valid) {
    const first = report.fileErrors[0] ?? (report.errors[0] ? `line ${report.errors[0].line} (${report.errors[0].field}): ${report.errors[0].message}` : 'invalid');
    throw new Error(`"${o.name}" no longer validates: ${first}`);
  }
  return { train: train.count - before.train, eval: evalSink.count - before.eval };
}
