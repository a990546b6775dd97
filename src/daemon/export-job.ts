/**
 * "When one machine is not enough": a model and its queue as a training job for a GPU cluster, one zip holding the
 * data as the profile transforms it (one JSONL per queued file, the held-out split, the regime-3 codebook and its
 * added tokens), axolotl.yaml, a TRL sft.py with an accelerate config, and a README (src/export-job generates them).
 * Runs where the tokenizer lives (the validator worker in the page; in-process in tests).
 */
import type { ChatTokenizer } from '../engine/types.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';
import type { ModelRow, QueueItemRow, WorkbenchDb } from '../store/db.ts';
import { ModelRepo } from '../store/state.ts';
import { JOB_CODEBOOK_FILE, JsonlSink, jobTextFiles, slug, transformFile, type JobDataFile, type JobSpec } from '../export-job/index.ts';
import { REGIME3, buildProfile, codebookFromFile, templateOf } from './codebook.ts';
import { loadTrainConfig } from './config.ts';
import { Queue } from './queue.ts';
import { zipTarget } from './transfer.ts';

export interface JobExportOptions {
  /** Default: the active model. */
  modelId?: string;
  /** Also the files the model has trained on already (default true: the job reproduces the whole run). */
  includeCompleted?: boolean;
  /** GPUs of one machine for accelerate.yaml (default 8). */
  gpus?: number;
}

export interface JobExportResult {
  zip: Blob;
  fileName: string;
  /** Paths inside the zip (under its top folder). */
  files: string[];
  trainExamples: number;
  evalExamples: number;
}

const PENDING = new Set(['queued', 'processing', 'paused']);

/** The items of the job in training order: those trained (in lineage order), then the pending ones in queue order. */
async function jobItems(db: WorkbenchDb, model: ModelRow, includeCompleted: boolean): Promise<QueueItemRow[]> {
  const ordered = await new Queue(db).ordered();
  const trainedOrder = new Map(model.lineage.map((e, i) => [e.itemId, i]));
  const done = includeCompleted
    ? ordered.filter((it) => it.status === 'completed' && trainedOrder.has(it.id!)).sort((a, b) => trainedOrder.get(a.id!)! - trainedOrder.get(b.id!)!)
    : [];
  return [...done, ...ordered.filter((it) => PENDING.has(it.status))];
}

async function* blobPieces(blob: Blob): AsyncGenerator<Uint8Array> {
  const reader = (blob.stream() as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

const text = (s: string) => new TextEncoder().encode(s);

export async function exportJob(db: WorkbenchDb, tokenizerFor: (model: ModelRow) => Promise<ChatTokenizer>, opts: JobExportOptions = {}): Promise<JobExportResult> {
  const models = new ModelRepo(db);
  const model = opts.modelId ? await models.get(opts.modelId) : await models.active();
  if (!model) throw new Error(opts.modelId ? `model "${opts.modelId}" does not exist` : 'There is no active model to export a job from.');
  const cfg = await loadTrainConfig(db);
  const items = await jobItems(db, model, opts.includeCompleted ?? true);
  if (items.length === 0) throw new Error('The queue has no file to export: add training files (they must pass validation) first.');
  const fileOf = async (it: QueueItemRow) => {
    const f = await db.files.get(it.fileId);
    if (!f) throw new Error(`the stored file of "${it.name}" is missing`);
    return f.blob;
  };

  // regime3: the model's codebook, or (none built yet) the one its first regime3 file will build, made the same way
  let codebook: CodebookData | undefined;
  if (cfg.profile === REGIME3) codebook = model.codebook ?? (await codebookFromFile(await fileOf(items[0]), items[0].name, cfg.regime3.codebookSize));
  const profile = buildProfile(cfg, codebook);
  const tokenizer = await tokenizerFor(model);

  const name = slug(`${model.name}-job`);
  const target = zipTarget();
  const written: string[] = [];
  const put = async (path: string, pieces: AsyncIterable<Uint8Array>) => {
    await target.writer.writeStream!(`${name}/${path}`, pieces);
    written.push(`${name}/${path}`);
  };

  // a mixed item (issue 14) is written as its source files, each with its own split (the ratios are not kept)
  const parts: { it: QueueItemRow; started: number }[] = [];
  for (const it of items) {
    const started = model.lineage.find((e) => e.itemId === it.id)?.fromStep ?? model.step;
    for (const src of it.mix?.sources ?? []) {
      const row = await db.queue.get(src.itemId);
      if (!row) throw new Error(`the source "${src.name}" of the mixed item "${it.name}" is missing from the queue`);
      parts.push({ it: row, started });
    }
    if (!it.mix) parts.push({ it, started });
  }

  const train: JobDataFile[] = [];
  const evalSink = new JsonlSink();
  const width = String(parts.length).length;
  for (const [k, { it, started }] of parts.entries()) {
    const sink = new JsonlSink();
    const n = await transformFile(
      await fileOf(it),
      { name: it.name, tokenizer, profile, maxLength: cfg.maxLength, skipInvalidLines: it.skipInvalidLines, heldOut: it.heldOut, excluded: it.evalDrawn?.indices, step: started },
      sink,
      evalSink,
    );
    const path = `data/train/${String(k + 1).padStart(width, '0')}-${slug(it.name.replace(/\.jsonl?$/i, ''))}.jsonl`;
    await put(path, blobPieces(sink.done()));
    train.push({ path, source: it.name, examples: n.train });
  }
  const evalFile: JobDataFile | null = evalSink.count > 0 ? { path: 'data/eval.jsonl', source: 'held-out examples of every file', examples: evalSink.count } : null;
  if (evalFile) await put(evalFile.path, blobPieces(evalSink.done()));

  const spec: JobSpec = {
    name,
    modelName: model.name,
    baseModel: cfg.baseModel,
    config: cfg,
    chatTemplate: templateOf(cfg.profile),
    train,
    eval: evalFile,
    addedTokens: profile.addedTokens?.() ?? [],
    codebookFile: codebook ? JOB_CODEBOOK_FILE : null,
    gpus: opts.gpus ?? 8,
  };
  for (const [path, body] of jobTextFiles(spec, codebook)) await put(path, (async function* () { yield text(body); })());
  return {
    zip: await target.result(),
    fileName: `${name}.zip`,
    files: written,
    trainExamples: train.reduce((s, f) => s + f.examples, 0),
    evalExamples: evalSink.count,
  };
}
