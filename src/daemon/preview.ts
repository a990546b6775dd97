/**
 * Data behind the workbench's profile preview and regime-3 panes, computed where the tokenizer lives (the
 * validator worker; in-process in Node tests) so the page never loads it: one example of a queued file through the
 * profile, its chat template and the completion-only mask; one expression through the active model's codebook.
 */
import type { FolderReader } from '../engine/checkpoint.ts';
import { validateStream } from '../engine/data/validate.ts';
import type { ChatExample, ChatTokenizer } from '../engine/types.ts';
import { previewExample, type ExamplePreview } from '../profiles/preview.ts';
import { loadCodebook } from '../regime3/codebook.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';
import { codebookRows, previewRegime3, type CodebookRow, type Regime3Preview } from '../regime3/preview.ts';
import type { ModelRow, WorkbenchDb } from '../store/db.ts';
import { ModelRepo } from '../store/state.ts';
import { REGIME3, buildProfile, codebookFromFile, codebookTokens } from './codebook.ts';
import { loadTrainConfig } from './config.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { readJson } from './folders.ts';

const TOKENIZERS_KEPT = 2;

/** Tokenizers by folder reference, with a model's codebook tokens added (one per model that has a codebook). */
export class TokenizerCache {
  private readonly cache = new Map<string, Promise<ChatTokenizer>>();
  constructor(private readonly folder: (ref: string) => FolderReader) {}

  /**
   * The tokenizer of `model` (or of `fallbackRef` before any model row exists), with the model's codebook tokens,
   * or with `provisional`'s (a preview before the model has a codebook; kept apart from the model's tokenizer).
   */
  get(model: ModelRow | undefined, fallbackRef: string, provisional?: CodebookData): Promise<ChatTokenizer> {
    const ref = model?.tokenizerRef ?? fallbackRef;
    const book = model?.codebook ?? provisional;
    const key = model?.codebook ? `${ref}\u0000${model.id}` : provisional ? `${ref}\u0000provisional-${provisional.size}` : ref;
    let t = this.cache.get(key);
    if (t) this.cache.delete(key); // re-inserted below: most recently used last
    else {
      const folder = this.folder(ref);
      t = Promise.all([readJson(folder, 'tokenizer.json'), readJson(folder, 'tokenizer_config.json')]).then(([json, config]) => {
        const tok = loadTokenizer(json, config);
        tok.addTokens(codebookTokens(book));
        return tok;
      });
      const mine = t;
      t.catch(() => this.cache.get(key) === mine && this.cache.delete(key)); // a failed load is retried next time
    }
    this.cache.set(key, t);
    // A Qwen3 tokenizer is tens of MB: keep the two most recently used (the model's, and a preview's).
    while (this.cache.size > TOKENIZERS_KEPT) this.cache.delete(this.cache.keys().next().value!);
    return t;
  }
}

export interface ItemExamplePreview extends ExamplePreview {
  itemId: number;
  name: string;
  /** Index among the file's valid examples (the index the profile's transform gets). */
  index: number;
  /** 1-based line of the example in the file. */
  line: number;
  /** Valid examples in the file (from its validation report). */
  examples: number;
  /** Held out for validation loss and sample answers, not trained. */
  heldOut: boolean;
  profile: string;
  /** Global step the transform was asked for (regime-3 transitional mode reads it). */
  step: number;
  /** regime3: the active model's codebook, or a provisional one built from this file (the model has none yet). */
  codebook: 'model' | 'provisional' | null;
}

export interface CodebookView {
  modelId: string;
  modelName: string;
  size: number;
  /** How many `<E…>` entries are merges of two codes. */
  merges: number;
  rows: CodebookRow[];
}

export interface Regime3PaneData {
  modelId: string | null;
  /** Null when the active model has no codebook yet (it is built from its first regime3 file). */
  codebookSize: number | null;
  preview: Regime3Preview | null;
  message: string | null;
}

/** The active model's codebook as browsable rows, or null when it has none. Needs no tokenizer. */
export function codebookView(model: ModelRow | undefined): CodebookView | null {
  if (!model?.codebook) return null;
  const rows = codebookRows(loadCodebook(model.codebook));
  return { modelId: model.id, modelName: model.name, size: model.codebook.size, merges: rows.filter((r) => r.kind === 'merge').length, rows };
}

export class PreviewService {
  private readonly provisional = new Map<number, Promise<CodebookData>>();

  constructor(
    private readonly db: WorkbenchDb,
    private readonly tokenizers: TokenizerCache,
    /** Tokenizer folder used before any model row exists (the bundled model). */
    private readonly fallbackRef: string,
  ) {}

  /** Example `index` of queue item `itemId` as the active profile trains it. Throws a clear Error for a bad item or index. */
  async example(itemId: number, index: number): Promise<ItemExamplePreview> {
    const item = await this.db.queue.get(itemId);
    if (!item) throw new Error(`queue item ${itemId} does not exist`);
    const file = await this.db.files.get(item.fileId);
    if (!file) throw new Error(`the stored file of "${item.name}" is missing`);
    const total = item.report?.examples;
    if (!Number.isInteger(index) || index < 0 || (total !== undefined && index >= total)) {
      throw new RangeError(`"${item.name}" has no example ${index}${total !== undefined ? `: it has ${total} (0–${total - 1})` : ''}`);
    }
    const model = await new ModelRepo(this.db).active();
    const config = await loadTrainConfig(this.db);
    let codebook: CodebookData | undefined = model?.codebook;
    let source: ItemExamplePreview['codebook'] = config.profile === REGIME3 ? 'model' : null;
    if (config.profile === REGIME3 && !codebook) {
      // What the daemon would build from this file if it were the model's first regime3 file.
      let p = this.provisional.get(itemId);
      if (!p) this.provisional.set(itemId, (p = codebookFromFile(file.blob, item.name, config.regime3.codebookSize)));
      codebook = await p.catch((e: unknown) => {
        this.provisional.delete(itemId);
        throw e;
      });
      source = 'provisional';
    }
    const profile = buildProfile(config, codebook);
    const tokenizer = await this.tokenizers.get(model, this.fallbackRef, source === 'provisional' ? codebook : undefined);
    tokenizer.addTokens(profile.addedTokens?.() ?? []);
    const found = await findExample(file.blob, item.name, index, item.skipInvalidLines, tokenizer, config.maxLength, profile.chatTemplate);
    if (!found) throw new RangeError(`"${item.name}" has no example ${index}`);
    const step = model?.step ?? 0;
    const p = previewExample(profile, found.example, index, tokenizer, { step });
    return { ...p, itemId, name: item.name, index, line: found.line, examples: total ?? index + 1, heldOut: item.heldOut.includes(index), profile: profile.name, step, codebook: source };
  }

  /** `text` through the active model's codebook: codes, decoded form, token counts before and after. */
  async regime3(text: string): Promise<Regime3PaneData> {
    const model = await new ModelRepo(this.db).active();
    if (!model?.codebook) {
      return { modelId: model?.id ?? null, codebookSize: null, preview: null, message: `${model ? `"${model.name}"` : 'The active model'} has no regime-3 codebook yet: it is built when its first regime3 file starts training.` };
    }
    const tokenizer = await this.tokenizers.get(model, this.fallbackRef);
    return { modelId: model.id, codebookSize: model.codebook.size, preview: previewRegime3(loadCodebook(model.codebook), text, tokenizer), message: null };
  }
}

/** The `index`-th valid example of a file (the validator's notion of valid, as training uses), streaming. */
async function findExample(
  blob: Blob,
  name: string,
  index: number,
  skipInvalidLines: boolean,
  tokenizer: ChatTokenizer,
  maxLength: number,
  template: 'stock' | 'chatml',
): Promise<{ example: ChatExample; line: number } | null> {
  const stop = new AbortController();
  let seen = 0;
  let found: { example: ChatExample; line: number } | null = null;
  try {
    await validateStream(blob.stream() as ReadableStream<Uint8Array>, {
      tokenizer,
      maxLength,
      template,
      skipInvalidLines,
      file: name,
      signal: stop.signal,
      onExample: (example, line) => {
        if (seen++ === index) {
          found = { example, line };
          stop.abort();
        }
      },
    });
  } catch (e) {
    if (!found) throw e;
  }
  return found;
}
