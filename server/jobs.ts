/**
 * Jobs of the node (eval, data_gen): rows in SQLite that a worker loop takes one at a time,
 * pending → running → done | failed. Jobs left running by a previous process are marked failed.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './db.ts';
import { nowIso } from './db.ts';
import type { Job, JobStats, JobStatus, JobType } from '../src/remote/api.ts';
import { HttpError } from './http.ts';

interface JobRow {
  id: string;
  type: JobType;
  status: JobStatus;
  model_id: string;
  params: string;
  result: string | null;
  error: string | null;
  progress: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

function toJob(r: JobRow): Job {
  return {
    ...r,
    params: JSON.parse(r.params) as Record<string, unknown>,
    result: r.result === null ? null : (JSON.parse(r.result) as Job['result']),
  };
}

export const RESTART_REASON = 'Interrupted: the inference node restarted while this job was running.';

export class JobStore {
  constructor(private readonly db: Db) {}

  create(type: JobType, modelId: string, params: object): Job {
    const id = `${type === 'eval' ? 'eval' : 'gen'}-${randomUUID()}`;
    this.db
      .prepare("INSERT INTO jobs (id, type, status, model_id, params, created_at) VALUES (?, ?, 'pending', ?, ?, ?)")
      .run(id, type, modelId, JSON.stringify(params), nowIso());
    return this.require(id, type);
  }

  get(id: string): Job | null {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  require(id: string, type?: JobType): Job {
    const job = this.get(id);
    if (!job || (type && job.type !== type)) throw new HttpError(404, `No ${type ?? ''} job with id "${id}".`.replace('  ', ' '), 'not_found_error');
    return job;
  }

  list(filter: { type?: JobType; status?: JobStatus; limit: number }): Job[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.type) (where.push('type = ?'), args.push(filter.type));
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    const sql = `SELECT * FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, rowid DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit) as JobRow[]).map(toJob);
  }

  stats(): JobStats {
    const counts = { pending: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as { status: JobStatus; n: number }[]) {
      counts[r.status] = r.n;
    }
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const last = this.db.prepare('SELECT COUNT(*) AS n FROM jobs WHERE created_at >= ?').get(hourAgo) as { n: number };
    return { ...counts, jobs_last_hour: last.n };
  }

  /** The oldest pending job, now marked running; null when none waits. */
  takeNext(): Job | null {
    return this.db.transaction(() => {
      const row = this.db.prepare("SELECT * FROM jobs WHERE status = 'pending' ORDER BY created_at, rowid LIMIT 1").get() as JobRow | undefined;
      if (!row) return null;
      this.db.prepare("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?").run(nowIso(), row.id);
      return this.get(row.id);
    })();
  }

  progress(id: string, fraction: number): void {
    this.db.prepare('UPDATE jobs SET progress = ? WHERE id = ?').run(Math.max(0, Math.min(1, fraction)), id);
  }

  finish(id: string, result: object): void {
    this.db.prepare("UPDATE jobs SET status = 'done', result = ?, progress = 1, finished_at = ? WHERE id = ?").run(JSON.stringify(result), nowIso(), id);
  }

  fail(id: string, error: string): void {
    this.db.prepare("UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?").run(error, nowIso(), id);
  }

  /** At startup: every job still `running` belonged to a dead process. */
  failInterrupted(): number {
    return this.db.prepare("UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE status = 'running'").run(RESTART_REASON, nowIso()).changes;
  }
}

export type JobRunner = (job: Job, progress: (fraction: number) => void) => Promise<object>;

/** Takes pending jobs one at a time and runs them with the runner for their type. */
export class JobWorker {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> | null = null;
  private stopped = false;
  busy = false;

  constructor(
    private readonly store: JobStore,
    private readonly runners: Record<JobType, JobRunner>,
    private readonly log: (line: string) => void,
    private readonly pollMs = 200,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Wakes the loop now (after a job was created). */
  poke(): void {
    if (!this.busy && !this.stopped) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.current;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.current = this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    const job = this.store.takeNext();
    if (!job) {
      this.schedule(this.pollMs);
      return;
    }
    this.busy = true;
    this.log(`job ${job.id} (${job.type}) running`);
    try {
      const result = await this.runners[job.type](job, (f) => this.store.progress(job.id, f));
      this.store.finish(job.id, result);
      this.log(`job ${job.id} done`);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.store.fail(job.id, message);
      this.log(`job ${job.id} failed: ${message}`);
    } finally {
      this.busy = false;
    }
    if (!this.stopped) this.schedule(0);
  }
}
