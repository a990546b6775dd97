/**
 * Typed client of the inference node API (and of any OpenAI-compatible server for chat): per-call
 * timeouts, retries with exponential backoff on idempotent calls, RemoteError carrying the HTTP
 * status, streamed chat over SSE, and capability detection (endpoints that 404 hide their features).
 */
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, DataGenRequest, DatasetRecord, ErrorBody, GenerateRequest,
  GenerateResponse, GpuTelemetry, Health, EvalJobRequest, Job, JobStats, JobStatus, JobType, LogLines, ModelInfo, ModelRecord,
  PowerProfile, PowerProfileState, RegisterModelRequest, SystemInfo, VersionInfo, DataGenResult, EvalResult,
} from './api.ts';
import { sseData } from './sse.ts';

/** A failed call: `status` is the HTTP status, 0 when the node could not be reached or timed out. */
export class RemoteError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly url: string,
    readonly type: string | null = null,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
  get unreachable(): boolean {
    return this.status === 0;
  }
}

export interface RemoteClientOptions {
  baseUrl: string;
  /** Sent as X-API-Key on admin calls (and on read calls when readKey is empty). */
  adminKey?: string;
  readKey?: string;
  /** Per attempt, ms (default 15 s). Chat and uploads get `longTimeoutMs`. */
  timeoutMs?: number;
  longTimeoutMs?: number;
  /** Extra attempts for idempotent calls (default 2). */
  retries?: number;
  /** First backoff delay, doubled per retry (default 250 ms). */
  backoffMs?: number;
  fetch?: typeof fetch;
}

export interface Capabilities {
  /** The node answered at all (health, or /v1/models for plain OpenAI servers). */
  reachable: boolean;
  health: boolean;
  models: boolean;
  deploy: boolean;
  jobs: boolean;
  telemetry: boolean;
  chat: boolean;
}

type Auth = 'none' | 'read' | 'admin';
interface CallOptions {
  method?: 'GET' | 'POST';
  auth: Auth;
  body?: unknown;
  form?: FormData;
  idempotent?: boolean;
  long?: boolean;
  signal?: AbortSignal;
}

const RETRY_STATUSES = new Set([0, 408, 429, 502, 503, 504]);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RemoteClient {
  readonly baseUrl: string;
  private readonly opts: Required<Omit<RemoteClientOptions, 'fetch' | 'adminKey' | 'readKey'>> & { adminKey: string; readKey: string };
  private readonly fetchFn: typeof fetch;

  constructor(options: RemoteClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    if (!/^https?:\/\//.test(this.baseUrl)) throw new RemoteError(`The node URL must start with http:// or https://, got "${options.baseUrl}".`, 0, options.baseUrl);
    this.opts = {
      baseUrl: this.baseUrl,
      adminKey: options.adminKey ?? '',
      readKey: options.readKey ?? '',
      timeoutMs: options.timeoutMs ?? 15_000,
      longTimeoutMs: options.longTimeoutMs ?? 600_000,
      retries: options.retries ?? 2,
      backoffMs: options.backoffMs ?? 250,
    };
    this.fetchFn = options.fetch ?? ((...a) => fetch(...a));
  }

  private key(auth: Auth): string | null {
    if (auth === 'none') return null;
    if (auth === 'read') return this.opts.readKey || this.opts.adminKey || null;
    return this.opts.adminKey || null;
  }

  /** One HTTP call with timeout; returns the Response when ok, else throws RemoteError. */
  private async send(path: string, o: CallOptions): Promise<Response> {
    const url = this.baseUrl + path;
    const attempts = o.idempotent ? this.opts.retries + 1 : 1;
    let last: RemoteError | null = null;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(this.opts.backoffMs * 2 ** (attempt - 1));
      const timeout = AbortSignal.timeout(o.long ? this.opts.longTimeoutMs : this.opts.timeoutMs);
      const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
      const headers: Record<string, string> = {};
      const key = this.key(o.auth);
      if (key) headers['X-API-Key'] = key;
      let body: BodyInit | undefined;
      if (o.form) body = o.form;
      else if (o.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(o.body);
      }
      let res: Response;
      try {
        res = await this.fetchFn(url, { method: o.method ?? 'GET', headers, body, signal });
      } catch (e) {
        if (o.signal?.aborted) throw new RemoteError('The request was cancelled.', 0, url, 'aborted');
        const timedOut = timeout.aborted;
        last = new RemoteError(
          timedOut ? `The inference node at ${this.baseUrl} did not answer ${path} in time.` : `The inference node at ${this.baseUrl} cannot be reached (${(e as Error).message}).`,
          0,
          url,
          timedOut ? 'timeout' : 'network',
        );
        continue;
      }
      if (res.ok) return res;
      last = await errorFrom(res, url);
      if (!RETRY_STATUSES.has(res.status)) break;
    }
    throw last ?? new RemoteError(`Request to ${url} failed.`, 0, url);
  }

  private async json<T>(path: string, o: CallOptions): Promise<T> {
    const res = await this.send(path, o);
    try {
      return (await res.json()) as T;
    } catch (e) {
      throw new RemoteError(`The node's answer to ${path} is not JSON (${(e as Error).message}).`, res.status, this.baseUrl + path, 'bad_response');
    }
  }

  private get<T>(path: string, auth: Auth = 'read'): Promise<T> {
    return this.json<T>(path, { auth, idempotent: true });
  }

  private post<T>(path: string, body: unknown, auth: Auth = 'admin', long = false): Promise<T> {
    return this.json<T>(path, { method: 'POST', auth, body, long });
  }

  // ------------------------------------------------------------ status
  health(): Promise<Health> {
    return this.get('/health', 'none');
  }
  version(): Promise<VersionInfo> {
    return this.get('/version', 'none');
  }
  gpu(): Promise<GpuTelemetry> {
    return this.get('/gpu');
  }
  system(): Promise<SystemInfo> {
    return this.get('/system');
  }
  powerProfile(): Promise<PowerProfileState> {
    return this.get('/settings/power_profile', 'admin');
  }
  setPowerProfile(profile: PowerProfile): Promise<PowerProfileState> {
    return this.post('/settings/power_profile', { profile });
  }
  logs(name: string, lines = 100): Promise<LogLines> {
    return this.get(`/logs/${encodeURIComponent(name)}?lines=${lines}`, 'admin');
  }

  // ------------------------------------------------------------ models
  async models(): Promise<ModelRecord[]> {
    return (await this.get<{ models: ModelRecord[] }>('/models')).models;
  }
  activeModel(): Promise<ModelRecord> {
    return this.get('/models/active');
  }
  modelInfo(): Promise<ModelInfo> {
    return this.get('/models/info');
  }
  registerModel(req: RegisterModelRequest): Promise<ModelRecord> {
    return this.post('/models/register', req);
  }
  /** Returns once the model is loaded and answering. */
  setActive(id: string): Promise<ModelRecord & { info: ModelInfo }> {
    return this.post('/models/set_active', { id }, 'admin', true);
  }
  reload(): Promise<ModelInfo> {
    return this.post('/models/reload', {}, 'admin', true);
  }
  /** Uploads a zipped Hugging Face folder and registers it as `id`. */
  uploadModel(id: string, zip: Blob | Uint8Array, fileName = `${id}.zip`, tags: string[] = []): Promise<ModelRecord> {
    const form = new FormData();
    form.set('id', id);
    if (tags.length) form.set('tags', tags.join(','));
    form.set('file', toBlob(zip, 'application/zip'), fileName);
    return this.json('/models/upload', { method: 'POST', auth: 'admin', form, long: true });
  }
  /** Upload, register and set active: a checkpoint deployed in one call. */
  async deploy(id: string, zip: Blob | Uint8Array, tags: string[] = []): Promise<ModelRecord & { info: ModelInfo }> {
    await this.uploadModel(id, zip, `${id}.zip`, tags);
    return this.setActive(id);
  }
  async datasets(): Promise<DatasetRecord[]> {
    return (await this.get<{ datasets: DatasetRecord[] }>('/datasets')).datasets;
  }
  uploadDataset(id: string, jsonl: Blob | Uint8Array | string, fileName = `${id}.jsonl`): Promise<DatasetRecord> {
    const form = new FormData();
    form.set('id', id);
    form.set('file', typeof jsonl === 'string' ? new Blob([jsonl], { type: 'application/jsonl' }) : toBlob(jsonl, 'application/jsonl'), fileName);
    return this.json('/datasets', { method: 'POST', auth: 'admin', form, long: true });
  }

  // ------------------------------------------------------------ inference
  chat(req: ChatCompletionRequest, signal?: AbortSignal): Promise<ChatCompletion> {
    return this.json('/v1/chat/completions', { method: 'POST', auth: 'read', body: { ...req, stream: false }, long: true, signal });
  }
  /** Streams a chat answer; `onDelta` gets each piece of text. Resolves with the whole text and finish reason. */
  async chatStream(req: ChatCompletionRequest, onDelta: (text: string) => void, signal?: AbortSignal): Promise<{ text: string; finishReason: string | null }> {
    const url = this.baseUrl + '/v1/chat/completions';
    const res = await this.send('/v1/chat/completions', { method: 'POST', auth: 'read', body: { ...req, stream: true }, long: true, signal });
    if (!res.body) throw new RemoteError('The streamed answer has no body.', res.status, url, 'bad_response');
    let text = '';
    let finishReason: string | null = null;
    try {
      for await (const data of sseData(res.body)) {
        let obj: ChatCompletionChunk | ErrorBody;
        try {
          obj = JSON.parse(data) as ChatCompletionChunk | ErrorBody;
        } catch {
          throw new RemoteError(`A streamed event is not JSON: ${data.slice(0, 80)}`, res.status, url, 'bad_response');
        }
        if ('error' in obj) throw new RemoteError(obj.error.message, Number(obj.error.code) || 500, url, obj.error.type);
        const choice = obj.choices?.[0];
        const delta = choice?.delta?.content;
        if (delta) {
          text += delta;
          onDelta(delta);
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
      }
    } catch (e) {
      // Stop pressed: the text so far is the answer
      if (signal?.aborted) return { text, finishReason: 'aborted' };
      if (e instanceof RemoteError) throw e;
      throw new RemoteError(`The stream broke off: ${(e as Error).message}`, 0, url, 'network');
    }
    return { text, finishReason };
  }
  generate(req: GenerateRequest): Promise<GenerateResponse> {
    return this.json('/generate', { method: 'POST', auth: 'read', body: req, long: true });
  }

  // ------------------------------------------------------------ jobs
  createEvalJob(req: EvalJobRequest): Promise<Job<EvalResult>> {
    return this.post('/eval/jobs', req);
  }
  evalJob(id: string): Promise<Job<EvalResult>> {
    return this.get(`/eval/jobs/${encodeURIComponent(id)}`);
  }
  createDataGenJob(req: DataGenRequest): Promise<Job<DataGenResult>> {
    return this.post('/data_gen/jobs', req);
  }
  dataGenJob(id: string): Promise<Job<DataGenResult>> {
    return this.get(`/data_gen/jobs/${encodeURIComponent(id)}`);
  }
  /** One shard of a finished data-gen job as chat JSONL text. */
  async dataGenShard(jobId: string, name: string): Promise<string> {
    const res = await this.send(`/data_gen/jobs/${encodeURIComponent(jobId)}/shards/${encodeURIComponent(name)}`, { auth: 'read', idempotent: true });
    return res.text();
  }
  async jobs(filter: { type?: JobType; status?: JobStatus; limit?: number } = {}): Promise<Job[]> {
    const q = new URLSearchParams();
    if (filter.type) q.set('type', filter.type);
    if (filter.status) q.set('status', filter.status);
    if (filter.limit) q.set('limit', String(filter.limit));
    const qs = q.toString();
    return (await this.get<{ jobs: Job[] }>(`/jobs${qs ? '?' + qs : ''}`)).jobs;
  }
  jobStats(): Promise<JobStats> {
    return this.get('/jobs/stats');
  }
  /** Polls a job until it is done or failed (a failed job resolves too: read `status` and `error`). */
  async waitForJob<R extends EvalResult | DataGenResult>(
    job: Pick<Job, 'id' | 'type'>,
    opts: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal; onProgress?: (j: Job<R>) => void } = {},
  ): Promise<Job<R>> {
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    for (;;) {
      const j = (job.type === 'eval' ? await this.evalJob(job.id) : await this.dataGenJob(job.id)) as Job<R>;
      opts.onProgress?.(j);
      if (j.status === 'done' || j.status === 'failed') return j;
      if (opts.signal?.aborted) throw new RemoteError('Waiting for the job was cancelled.', 0, this.baseUrl, 'aborted');
      if (Date.now() > deadline) throw new RemoteError(`Job ${job.id} is still ${j.status} after the wait limit.`, 0, this.baseUrl, 'timeout');
      await sleep(opts.pollMs ?? 500);
    }
  }

  // ------------------------------------------------------------ capabilities
  /** Probes which features the server has: a 404 hides a feature, an auth error still shows it exists. */
  async capabilities(): Promise<Capabilities> {
    /** The HTTP status of a call (200 when it worked), or null when the server cannot be reached. */
    const probe = async (path: string, auth: Auth): Promise<number | null> => {
      try {
        await this.json(path, { auth, idempotent: false });
        return 200;
      } catch (e) {
        return e instanceof RemoteError && e.status !== 0 ? e.status : null;
      }
    };
    const [health, models, v1models, jobs, telemetry, upload] = await Promise.all([
      probe('/health', 'none'),
      probe('/models', 'read'),
      probe('/v1/models', 'read'),
      probe('/jobs/stats', 'read'),
      probe('/system', 'read'),
      // a GET on the POST-only upload endpoint: 405 (or an auth error) means it exists, 404 that it does not
      probe('/models/upload', 'admin'),
    ]);
    const exists = (s: number | null): boolean => s !== null && s !== 404 && s !== 501;
    const works = (s: number | null): boolean => s !== null && s < 400;
    const reachable = [health, models, v1models, jobs, telemetry, upload].some((s) => s !== null);
    return {
      reachable,
      health: works(health),
      models: exists(models),
      deploy: exists(upload),
      jobs: exists(jobs),
      telemetry: exists(telemetry),
      chat: reachable,
    };
  }
}

function toBlob(data: Blob | Uint8Array, type: string): Blob {
  return data instanceof Blob ? data : new Blob([data as BlobPart], { type });
}

async function errorFrom(res: Response, url: string): Promise<RemoteError> {
  let message = `${res.status} ${res.statusText}`.trim();
  let type: string | null = null;
  try {
    const text = await res.text();
    try {
      const body = JSON.parse(text) as Partial<ErrorBody> & { detail?: unknown; message?: unknown };
      if (body.error && typeof body.error === 'object' && typeof body.error.message === 'string') {
        message = body.error.message;
        type = body.error.type ?? null;
      } else if (typeof body.error === 'string') message = body.error;
      else if (typeof body.detail === 'string') message = body.detail;
      else if (typeof body.message === 'string') message = body.message;
    } catch {
      if (text.trim()) message = `${message}: ${text.trim().slice(0, 200)}`;
    }
  } catch {
    // body unreadable: keep the status line
  }
  return new RemoteError(message, res.status, url, type);
}
