/**
 * The validator Web Worker (comlink entry point; wiring only): validates dropped files streaming from their
 * stored Blobs with the active model's tokenizer and profile template, one item after another; also builds
 * checkpoint exports (zip or directory, streamed; merged model or LoRA adapter), model imports (streamed into Blobs) and the profile / regime-3 previews (it owns the tokenizer)
 * off the page.
 */
import * as Comlink from 'comlink';
import { getDb } from '../store/db.ts';
import { ModelRepo } from '../store/state.ts';
import { loadTrainConfig } from '../daemon/config.ts';
import { folderFor } from '../daemon/folders.ts';
import { templateOf } from '../daemon/codebook.ts';
import { PreviewService, TokenizerCache, type ItemExamplePreview, type Regime3PaneData } from '../daemon/preview.ts';
import { validateItem } from '../daemon/validate-item.ts';
import { exportCheckpointAs, importModelSource } from '../daemon/transfer.ts';
import type { ExportOptions, ExportResult, ImportSource } from '../daemon/api.ts';
import type { ModelRow } from '../store/db.ts';
import { exportJob, type JobExportOptions, type JobExportResult } from '../daemon/export-job.ts';

const db = getDb();
const tokenizers = new TokenizerCache((ref) => folderFor(db, ref));
let previews: PreviewService | null = null;

const api = {
  /** Validates the items in order; `fallbackTokenizerRef` is used before any model row exists (fresh profile). */
  async validate(itemIds: number[], fallbackTokenizerRef: string): Promise<void> {
    for (const id of itemIds) {
      const model = await new ModelRepo(db).active();
      const tokenizer = await tokenizers.get(model, fallbackTokenizerRef); // the model's codebook tokens included
      const cfg = await loadTrainConfig(db);
      // The template is all validation needs: no profile is built (regime3's needs the codebook made at training).
      await validateItem(db, id, { tokenizer, template: templateOf(cfg.profile) });
    }
  },

  /** Profile preview of one example of a queued file (the tokenizer stays in this worker). */
  previewExample(itemId: number, index: number, fallbackTokenizerRef: string): Promise<ItemExamplePreview> {
    previews ??= new PreviewService(db, tokenizers, fallbackTokenizerRef);
    return previews.example(itemId, index);
  },

  /** An expression through the active model's regime-3 codebook, with token counts. */
  previewRegime3(text: string, fallbackTokenizerRef: string): Promise<Regime3PaneData> {
    previews ??= new PreviewService(db, tokenizers, fallbackTokenizerRef);
    return previews.regime3(text);
  },
};

export type ValidatorWorkerApi = typeof api & typeof exporter;
const exporter = {
  /**
   * A checkpoint as a Hugging Face folder (a LoRA adapter merged in), its PEFT adapter with `format: 'adapter'`, or
   * the merged model as a GGUF file and Ollama Modelfile with `format: 'gguf'`:
   * a zip Blob, or files written into `opts.directory` (File System Access API). Streamed tensor by tensor.
   */
  exportCheckpoint(id: string, opts: ExportOptions = {}): Promise<ExportResult> {
    return exportCheckpointAs(db, id, { dtype: opts.dtype, directory: opts.directory, format: opts.format, ggufType: opts.ggufType });
  },

  /** The model and its queue as a training job (zip): the data through the profile, axolotl.yaml, TRL sft.py, README. */
  exportJob(opts: JobExportOptions, fallbackTokenizerRef: string): Promise<JobExportResult> {
    return exportJob(db, (model) => tokenizers.get(model, fallbackTokenizerRef), opts);
  },

  /** Validates an imported folder or zip (engine checkpoint rules, tokenizer) and stores it as a new model. */
  importModel(source: ImportSource, name?: string): Promise<ModelRow> {
    return importModelSource(db, source, name);
  },
};

Comlink.expose({ ...api, ...exporter });
