/**
 * The validator Web Worker (comlink entry point; wiring only): validates dropped files streaming from their
 * stored Blobs with the active model's tokenizer and profile template, one item after another; also builds
 * checkpoint exports (zip or directory) off the page's main thread.
 */
import * as Comlink from 'comlink';
import type { ChatTokenizer } from '../engine/types.ts';
import { getProfile } from '../profiles/index.ts';
import { getDb } from '../store/db.ts';
import { ModelRepo } from '../store/state.ts';
import { loadTrainConfig } from '../daemon/config.ts';
import { folderFor } from '../daemon/folders.ts';
import { loadTokenizerFrom } from '../daemon/session.ts';
import { validateItem } from '../daemon/validate-item.ts';
import { directoryTarget, exportCheckpoint, zipTarget } from '../daemon/transfer.ts';

const tokenizers = new Map<string, Promise<ChatTokenizer>>();

const api = {
  /** Validates the items in order; `fallbackTokenizerRef` is used before any model row exists (fresh profile). */
  async validate(itemIds: number[], fallbackTokenizerRef: string): Promise<void> {
    const db = getDb();
    for (const id of itemIds) {
      const model = await new ModelRepo(db).active();
      const ref = model?.tokenizerRef ?? fallbackTokenizerRef;
      if (!tokenizers.has(ref)) tokenizers.set(ref, loadTokenizerFrom(folderFor(db, ref)));
      const tokenizer = await tokenizers.get(ref)!;
      const cfg = await loadTrainConfig(db);
      const profile = getProfile(cfg.profile, { seed: cfg.seed });
      const added = profile.addedTokens?.() ?? [];
      if (added.length) tokenizer.addTokens(added); // idempotent: known tokens keep their ids
      await validateItem(db, id, { tokenizer, template: profile.chatTemplate });
    }
  },
};

export type ValidatorWorkerApi = typeof api & typeof exporter;
const exporter = {
  /** A checkpoint as a Hugging Face folder: a zip Blob, or files written into `directory` (File System Access API). */
  async exportCheckpoint(id: string, dtype: 'float32' | 'bfloat16' | undefined, directory?: FileSystemDirectoryHandle): Promise<{ zip?: Blob; fileName: string; files: string[] }> {
    const db = getDb();
    if (directory) {
      const r = await exportCheckpoint(db, id, directoryTarget(directory), { dtype });
      return { fileName: r.fileName, files: r.files };
    }
    const t = zipTarget();
    const r = await exportCheckpoint(db, id, t, { dtype });
    return { zip: await t.result(), fileName: r.fileName, files: r.files };
  },
};

Comlink.expose({ ...api, ...exporter });
