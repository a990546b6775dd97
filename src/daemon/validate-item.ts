/**
 * Validates one `validating` queue item: streams its stored Blob through the engine's validator (never the whole
 * file as one string), reports progress to the item, then marks it `queued` (with its held-out split) or `failed`
 * with the first 50 line errors, the count and the file-level reasons; every line error goes into a text Blob, built
 * as the file streams (never all in memory), for the downloadable report. Runs in the validator worker and in Node tests.
 */
import { validateStream, type ValidationReport as EngineReport } from '../engine/data/validate.ts';
import type { ChatTokenizer } from '../engine/types.ts';
import type { ItemStatus, LineError, ValidationReport, WorkbenchDb } from '../store/db.ts';
import { profileAnswerIssue } from './codebook.ts';
import { loadTrainConfig } from './config.ts';
import { Queue, formatLineError } from './queue.ts';

/** Error lines folded into a Blob every so many, so a file with millions of bad lines is never held as objects. */
class ErrorLog {
  private blob = new Blob([]);
  private pending: string[] = [];

  add(e: LineError): void {
    this.pending.push(`${formatLineError(e)}\n`);
    if (this.pending.length >= 10_000) this.fold();
  }

  private fold(): void {
    this.blob = new Blob([this.blob, ...this.pending], { type: 'text/plain' });
    this.pending = [];
  }

  done(): Blob {
    this.fold();
    return this.blob;
  }
}

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
  const profileErrors: LineError[] = [];
  let profileErrorCount = 0;
  const errorLog = new ErrorLog();
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
      onLineError: (e) => errorLog.add(e),
      onExample: (example, line) => {
        const issue = profileAnswerIssue(cfg.profile, example);
        if (!issue) return;
        profileErrorCount++;
        const e = { line, field: issue.field, message: issue.message };
        if (profileErrors.length < 50) profileErrors.push(e);
        errorLog.add(e);
      },
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
  // Lines the profile cannot train on fail the file even with "skip invalid lines": training would meet them
  // (the engine counted them as valid examples), so they must be fixed or the profile changed.
  const profileReason =
    profileErrorCount > 0
      ? `${profileErrorCount} line${profileErrorCount === 1 ? '' : 's'} the ${cfg.profile} profile cannot train on (first: line ${profileErrors[0].line}: ${profileErrors[0].field} ${profileErrors[0].message})`
      : undefined;
  const report: ValidationReport = {
    lines: r.lines,
    examples: r.examples,
    warnings: r.warnings.length,
    errors: r.errorCount + r.fileErrors.length + profileErrorCount,
    bytes: r.bytes,
    summary: [summarize(r, item.skipInvalidLines), profileReason].filter(Boolean).join(' — '),
    data: { maxLength: r.maxLength, warnings: r.warnings.map((w) => ({ ...w, lines: [...w.lines] })), tokens: r.tokens },
  };
  const lineErrors = [...r.errors.map((e) => ({ line: e.line, field: e.field, message: e.message })), ...profileErrors].sort((a, b) => a.line - b.line);
  return queue.finishValidation(
    itemId,
    {
      ok: r.valid && profileErrorCount === 0,
      report,
      lineErrors,
      lineErrorCount: r.errorCount + profileErrorCount,
      lineErrorReport: errorLog.done(),
      skippedLines: r.skippedLines,
      reason: !r.valid
        ? (r.fileErrors[0] ?? `${r.errorCount} invalid line${r.errorCount === 1 ? '' : 's'} (first: line ${r.errors[0]?.line}: ${r.errors[0]?.message})`)
        : profileReason,
    },
    { fraction: cfg.valFraction, max: cfg.valMax, seed: cfg.seed },
  );
}
