/**
 * Validates one `validating` queue item: streams its stored Blob through the engine's validator (never the whole
 * file as one string), reports progress to the item, then marks it `queued` (with its held-out split) or `failed`
 * with the first 50 line errors, the count and the file-level reasons. Runs in the validator worker and in Node tests.
 */
import { validateStream, type ValidationReport as EngineReport } from '../engine/data/validate.ts';
import type { ChatTokenizer } from '../engine/types.ts';
import type { ItemStatus, ValidationReport, WorkbenchDb } from '../store/db.ts';
import { loadTrainConfig } from './config.ts';
import { Queue } from './queue.ts';

export function summarize(r: EngineReport, skipInvalidLines: boolean): string {
  const parts = [`${r.examples} example${r.examples === 1 ? '' : 's'} in ${r.lines} lines`];
  if (r.fileErrors.length) parts.push(r.fileErrors.join('; '));
  if (r.errorCount) parts.push(skipInvalidLines ? `${r.errorCount} invalid lines skipped` : `${r.errorCount} invalid lines`);
  if (r.warnings.length) parts.push(r.warnings.map((w) => w.message).join('; '));
  return parts.join(' — ');
}

export interface ValidateItemOptions {
  tokenizer: ChatTokenizer;
  /** Chat template of the active profile. */
  template?: 'stock' | 'chatml';
  signal?: AbortSignal;
  onProgress?(bytes: number, total: number): void;
}

export async function validateItem(db: WorkbenchDb, itemId: number, o: ValidateItemOptions): Promise<ItemStatus> {
  const queue = new Queue(db);
  const item = await queue.get(itemId);
  const file = await db.files.get(item.fileId);
  if (!file) {
    const report: ValidationReport = { lines: 0, examples: 0, warnings: 0, errors: 1, bytes: 0, summary: 'the stored file is missing' };
    return queue.finishValidation(itemId, { ok: false, report, lineErrors: [], lineErrorCount: 0, skippedLines: [], reason: report.summary }, { fraction: 0, max: 0, seed: 0 });
  }
  const cfg = await loadTrainConfig(db);
  const blob = file.blob;
  let lastWrite = 0;
  let r: EngineReport;
  try {
    r = await validateStream(blob.stream() as ReadableStream<Uint8Array>, {
      tokenizer: o.tokenizer,
      maxLength: cfg.maxLength,
      template: o.template,
      skipInvalidLines: item.skipInvalidLines,
      file: item.name,
      totalBytes: blob.size,
      maxErrors: 50,
      signal: o.signal,
      onProgress: (bytes, total) => {
        o.onProgress?.(bytes, total ?? blob.size);
        const now = Date.now();
        if (now - lastWrite > 250) {
          lastWrite = now;
          void queue.setValidationProgress(itemId, bytes, total ?? blob.size);
        }
      },
    });
  } catch (e) {
    const summary = `validation could not run: ${e instanceof Error ? e.message : String(e)}`;
    const report: ValidationReport = { lines: 0, examples: 0, warnings: 0, errors: 1, bytes: 0, summary };
    return queue.finishValidation(itemId, { ok: false, report, lineErrors: [], lineErrorCount: 0, skippedLines: [], reason: summary }, { fraction: 0, max: 0, seed: 0 });
  }
  const report: ValidationReport = {
    lines: r.lines,
    examples: r.examples,
    warnings: r.warnings.length,
    errors: r.errorCount + r.fileErrors.length,
    bytes: r.bytes,
    summary: summarize(r, item.skipInvalidLines),
  };
  return queue.finishValidation(
    itemId,
    {
      ok: r.valid,
      report,
      lineErrors: r.errors.map((e) => ({ line: e.line, field: e.field, message: e.message })),
      lineErrorCount: r.errorCount,
      skippedLines: r.skippedLines,
      reason: r.valid ? undefined : (r.fileErrors[0] ?? `${r.errorCount} invalid line${r.errorCount === 1 ? '' : 's'} (first: line ${r.errors[0]?.line}: ${r.errors[0]?.message})`),
    },
    { fraction: cfg.valFraction, max: cfg.valMax, seed: cfg.seed },
  );
}
