/**
 * A queued file's valid examples as a profile makes them, in order: the file is streamed through the engine's
 * validator (so the examples and their indices are exactly those counted at queue time, "skip invalid lines"
 * included), examples drawn as an eval set are passed over, and each other one goes through the profile's transform.
 * A transform that throws, or a file that no longer validates, is an Error naming the file and line. The trainer's
 * example sources (daemon/examples.ts) and the job export (export-job/data.ts) both read files this way.
 */
import { validateStream } from '../engine/data/validate.ts';
import type { ChatMessage, ChatTokenizer } from '../engine/types.ts';
import type { Profile } from './index.ts';

export interface TransformedFileOptions {
  name: string;
  tokenizer: ChatTokenizer;
  profile: Profile;
  maxLength: number;
  skipInvalidLines: boolean;
  /** Example indices drawn as an eval set: never visited. */
  excluded?: readonly number[];
  /** Global step the file starts at (profiles such as regime-3 transitional read it). */
  step: number;
  /** Bytes of the file read so far. */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** Calls `visit` with each example's transformed messages and its index among the file's valid examples. */
export async function forEachTransformedExample(
  blob: Blob, o: TransformedFileOptions, visit: (messages: ChatMessage[], index: number) => void,
): Promise<void> {
  const excluded = new Set(o.excluded);
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
      visit(messages, i);
    },
  });
  if (!report.valid) {
    const first = report.fileErrors[0] ?? (report.errors[0] ? `line ${report.errors[0].line} (${report.errors[0].field}): ${report.errors[0].message}` : 'invalid');
    throw new Error(`"${o.name}" no longer validates: ${first}`);
  }
}
