/**
 * A queued file's Blob → the trainer's example sources: streamed through the engine's validator (so the valid
 * examples and their indices are exactly those counted at queue time, "skip invalid lines" included), the
 * profile's transform and the tokenizer; the held-out indices form the validation source. Token ids are kept
 * in growing Int32Array pools, never the file as one string.
 */
import { validateStream } from '../engine/data/validate.ts';
import { tokenizeExample } from '../engine/data/collate.ts';
import type { ChatMessage, ChatTokenizer, ExampleSource, TokenizedExample } from '../engine/types.ts';
import type { Profile } from '../profiles/index.ts';

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

export interface LoadExamplesOptions {
  name: string;
  tokenizer: ChatTokenizer;
  profile: Profile;
  maxLength: number;
  skipInvalidLines: boolean;
  heldOut: readonly number[];
  /** Example indices drawn as an eval set: neither trained on nor held out. */
  excluded?: readonly number[];
  /** Global step the file starts at (profiles such as regime-3 transitional read it). */
  step: number;
  /** Bytes of the file read so far (tokenizing progress). */
  onProgress?: (done: number, total: number | undefined) => void;
}

export async function loadFileExamples(blob: Blob, o: LoadExamplesOptions): Promise<FileExamples> {
  const held = new Set(o.heldOut), excluded = new Set(o.excluded);
  const out = { train: new PooledExamples(), validation: new PooledExamples(), heldOutChats: [] as FileExamples['heldOutChats'] };
  let index = 0;
  const report = await validateStream(blob.stream() as ReadableStream<Uint8Array>, {
    tokenizer: o.tokenizer,
    maxLength: o.maxLength,
    template: o.profile.chatTemplate,
    skipInvalidLines: o.skipInvalidLines,
    file: o.name,
    totalBytes: blob.size,
    maxErrors: 50,
    onProgress: o.onProgress,
    onExample: (example, line) => {
      const i = index++;
      if (excluded.has(i)) return;
      let messages: ChatMessage[];
      try {
        messages = o.profile.transform(example, i, { step: o.step });
      } catch (e) {
        throw new Error(`"${o.name}" line ${line}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const tok = tokenizeExample(o.tokenizer, messages, { template: o.profile.chatTemplate, maxLength: o.maxLength });
      if (held.has(i)) {
        out.validation.push(tok);
        const lastAssistant = messages.map((m) => m.role).lastIndexOf('assistant');
        if (lastAssistant > 0) out.heldOutChats.push({ prompt: messages.slice(0, lastAssistant), golden: messages[lastAssistant].content });
      } else out.train.push(tok);
    },
  });
  if (!report.valid) {
    const first = report.fileErrors[0] ?? (report.errors[0] ? `line ${report.errors[0].line} (${report.errors[0].field}): ${report.errors[0].message}` : 'invalid');
    throw new Error(`"${o.name}" no longer validates: ${first}`);
  }
  if (out.train.size === 0) throw new Error(`"${o.name}" has no training example left after holding out ${held.size}`);
  return out;
}
