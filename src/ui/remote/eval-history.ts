/**
 * Eval results from the inference node, kept with the checkpoint they were measured on: a small store-backed
 * repository (one row in the store's `settings` table, so results survive a reload and show in every tab),
 * plus the pure helpers that turn a finished eval job into a record and order records across checkpoints.
 * Per-example results stay on the node; only the summary is kept here. No keys are ever stored here.
 */
import { liveQuery, type Observable } from 'dexie';
import type { WorkbenchDb } from '../../store/db.ts';
import type { EvalResult, Job } from '../../remote/api.ts';

/** Settings key of the stored eval history. */
export const REMOTE_EVALS_KEY = 'remote.evalResults';
/** Most records kept (oldest dropped first). */
export const MAX_REMOTE_EVALS = 500;

export interface RemoteEvalRecord {
  /** The node's job id (a job is kept once). */
  jobId: string;
  /** Workbench checkpoint the evaluated node model was deployed from (null: a model not from this workbench). */
  checkpointId: string | null;
  /** Step of that checkpoint when known. */
  step: number | null;
  /** Human label of the checkpoint (or the node model id). */
  label: string;
  /** Model id on the node. */
  nodeModelId: string;
  datasetRef: string;
  profile: string;
  accuracy: number;
  correct: number;
  total: number;
  averageLoss: number;
  /** ISO time the job finished on the node (or when it was recorded). */
  finishedAt: string;
}

/** What the page knows about a checkpoint when an eval arrives. */
export interface CheckpointLabel {
  id: string;
  /** null when the checkpoint is no longer in this workbench's store. */
  step: number | null;
  label: string;
}

/** A finished eval job as a record; throws naming the field when the result is not a usable eval result. */
export function toEvalRecord(result: EvalResult, job: Pick<Job, 'id' | 'model_id' | 'finished_at'>, checkpoint: CheckpointLabel | null): RemoteEvalRecord {
  for (const f of ['accuracy', 'correct', 'total', 'average_loss'] as const) {
    if (typeof result[f] !== 'number' || !Number.isFinite(result[f])) throw new Error(`eval job ${job.id}: result.${f} is not a finite number (${String(result[f])})`);
  }
  return {
    jobId: job.id,
    checkpointId: checkpoint?.id ?? null,
    step: checkpoint?.step ?? null,
    label: checkpoint?.label ?? job.model_id,
    nodeModelId: job.model_id,
    datasetRef: result.dataset_ref,
    profile: result.profile,
    accuracy: result.accuracy,
    correct: result.correct,
    total: result.total,
    averageLoss: result.average_loss,
    finishedAt: job.finished_at ?? new Date().toISOString(),
  };
}

/** Records in chart order: by checkpoint step (records without a step last), then by finish time. */
export function orderForChart(records: readonly RemoteEvalRecord[]): RemoteEvalRecord[] {
  return [...records].sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity) || a.finishedAt.localeCompare(b.finishedAt));
}

/** Keeps only plausible records from what the store holds (it may be from an older version or hand-edited). */
function sanitize(value: unknown): RemoteEvalRecord[] {
  if (!Array.isArray(value)) return [];
  return value.filter((r): r is RemoteEvalRecord => !!r && typeof r === 'object' && typeof (r as RemoteEvalRecord).jobId === 'string' && typeof (r as RemoteEvalRecord).accuracy === 'number');
}

export class RemoteEvalHistory {
  constructor(private readonly db: WorkbenchDb) {}

  async list(): Promise<RemoteEvalRecord[]> {
    return sanitize((await this.db.settings.get(REMOTE_EVALS_KEY))?.value);
  }

  /** Live list (updates when any tab adds a record). */
  list$(): Observable<RemoteEvalRecord[]> {
    return liveQuery(async () => sanitize((await this.db.settings.get(REMOTE_EVALS_KEY))?.value));
  }

  /** Adds (or replaces, same job id) a record atomically; returns the list now stored. */
  async add(record: RemoteEvalRecord): Promise<RemoteEvalRecord[]> {
    return this.db.transaction('rw', this.db.settings, async () => {
      const rows = sanitize((await this.db.settings.get(REMOTE_EVALS_KEY))?.value).filter((r) => r.jobId !== record.jobId);
      rows.push(record);
      const kept = rows.slice(-MAX_REMOTE_EVALS);
      await this.db.settings.put({ key: REMOTE_EVALS_KEY, value: kept });
      return kept;
    });
  }
}
