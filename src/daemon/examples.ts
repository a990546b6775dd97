/**
 * A queued file's Blob → the trainer's example sources: its examples as the profile makes them
 * (profiles/transformed-file.ts), tokenized; the held-out indices form the validation source. Token ids are kept
 * in growing Int32Array pools, never the file as one string.
 */
import { tokenizeExample } from '../engine/data/collate.ts';
import type { ChatMessage, ExampleSource, TokenizedExample } from '../engine/types.ts';
import { forEachTransformedExample, type TransformedFileOptions } from '../profiles/transformed-file.ts';

/** Examples stored back to back: ids and masks in pools, offsets per example. */
export class PooledExamples implements ExampleSource {
  private ids = new Int32Array(1 << 12);
  private mask = new Uint8Array(1 << 12);
  private offsets: number[] = [0];

  get size(): number {
    return this.offsets.length - 1;
  }

  push(e: TokenizedExample): void {
    const end = this.offsets[this.offsets.length - 1];
    const need = end + e.ids.length;
    if (need > this.ids.length) {
      let cap = this.ids.length;
      while (cap < need) cap *= 2;
      const ids = new Int32Array(cap);
      ids.set(this.ids.subarray(0, end));
      const mask = new Uint8Array(cap);
      mask.set(this.mask.subarray(0, end));
      this.ids = ids;
      this.mask = mask;
    }
    this.ids.set(e.ids, end);
    this.mask.set(e.trainMask, end);
    this.offsets.push(need);
  }

  get(index: number): TokenizedExample {
    if (!(index >= 0 && index < this.size)) throw new RangeError(`example ${index} out of range [0, ${this.size})`);
    const a = this.offsets[index];
    const b = this.offsets[index + 1];
    return { ids: this.ids.subarray(a, b), trainMask: this.mask.subarray(a, b) };
  }
}

export interface FileExamples {
  train: ExampleSource;
  validation: ExampleSource;
  /** Held-out prompts and golden answers, for sample generation (issue 4). */
  heldOutChats: { prompt: ChatMessage[]; golden: string }[];
}

export interface LoadExamplesOptions extends TransformedFileOptions {
  /** Example indices held out for validation. */
  heldOut: readonly number[];
}

export async function loadFileExamples(blob: Blob, o: LoadExamplesOptions): Promise<FileExamples> {
  const held = new Set(o.heldOut);
  const out = { train: new PooledExamples(), validation: new PooledExamples(), heldOutChats: [] as FileExamples['heldOutChats'] };
  await forEachTransformedExample(blob, o, (messages, i) => {
    const tok = tokenizeExample(o.tokenizer, messages, { template: o.profile.chatTemplate, maxLength: o.maxLength });
    if (held.has(i)) {
      out.validation.push(tok);
      const lastAssistant = messages.map((m) => m.role).lastIndexOf('assistant');
      if (lastAssistant > 0) out.heldOutChats.push({ prompt: messages.slice(0, lastAssistant), golden: messages[lastAssistant].content });
    } else out.train.push(tok);
  });
  if (out.train.size === 0) throw new Error(`"${o.name}" has no training example left after holding out ${held.size}`);
  return out;
}
