/**
 * State of the inference-node panel: settings (URL and keys, in localStorage only), the client,
 * live health/telemetry polling, capabilities, the model list, and the deploy, evaluate, chat and
 * data-gen actions. Components stay thin; every failure lands in `error` as one sentence.
 */
import { RemoteClient, RemoteError, type Capabilities } from '../../remote/client.ts';
import { nextPollDelay } from './poll-delay.ts';
import { loadRemoteSettings, saveRemoteSettings, type RemoteSettings } from '../../remote/settings.ts';
import type { DataGenResult, DataGenStrategy, DatasetRecord, EvalResult, GpuTelemetry, Health, Job, JobStats, ModelRecord, SystemInfo } from '../../remote/api.ts';
import type { ChatMessage } from '../../engine/types.ts';

/** `unknown`: no URL set yet (nothing is polled). */
export type NodeStatus = 'unknown' | 'connecting' | 'up' | 'down' | 'unauthorized';
type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export function describeError(e: unknown): string {
  if (e instanceof RemoteError) {
    if (e.status === 0) return e.message;
    if (e.status === 401) return 'The node refused the key (401): check the read or admin key.';
    if (e.status === 403) return 'This needs the admin key (403).';
    return `${e.message} (HTTP ${e.status})`;
  }
  return e instanceof Error ? e.message : String(e);
}

export class RemoteNodeState {
  settings = $state<RemoteSettings>(loadRemoteSettings(null));
  status = $state<NodeStatus>('unknown');
  error = $state('');
  health = $state<Health | null>(null);
  system = $state<SystemInfo | null>(null);
  gpu = $state<GpuTelemetry | null>(null);
  stats = $state<JobStats | null>(null);
  caps = $state<Capabilities | null>(null);
  models = $state.raw<ModelRecord[]>([]);
  datasets = $state.raw<DatasetRecord[]>([]);
  busy = $state('');
  lastEval = $state.raw<Job<EvalResult> | null>(null);
  lastDataGen = $state.raw<Job<DataGenResult> | null>(null);
  client = $derived(this.makeClient(this.settings));

  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Polls in a row that found the node down (the next poll waits longer; see nextPollDelay). */
  private downPolls = 0;
  private refreshing = false;
  private running = false;
  private intervalMs = 5000;

  constructor(private readonly storage: KeyValueStorage | null = typeof localStorage === 'undefined' ? null : localStorage) {
    this.settings = loadRemoteSettings(storage);
  }

  private makeClient(s: RemoteSettings): RemoteClient | null {
    try {
      return new RemoteClient({ baseUrl: s.url, adminKey: s.adminKey, readKey: s.readKey, timeoutMs: 5000, retries: 1 });
    } catch {
      return null;
    }
  }

  save(next: RemoteSettings): void {
    this.settings = { ...next, url: next.url.trim() };
    saveRemoteSettings(this.settings, this.storage);
    this.caps = null;
    this.status = this.settings.url ? 'connecting' : 'unknown';
    this.downPolls = 0;
    if (this.running) this.start(this.intervalMs); // poll the new node now, at the normal pace
    else void this.refresh();
  }

  /** Polls every `intervalMs` while the node is up; while it is down, backs off (doubling) up to a minute. */
  start(intervalMs: number): void {
    this.stop();
    this.intervalMs = intervalMs;
    if (this.settings.url) this.status = 'connecting';
    const tick = async () => {
      await this.refresh();
      this.downPolls = this.status === 'down' ? this.downPolls + 1 : 0;
      if (this.running) this.timer = setTimeout(() => void tick(), nextPollDelay(intervalMs, this.downPolls));
    };
    this.running = true;
    void tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One round of health and telemetry; capabilities are probed once per connection. */
  async refresh(): Promise<void> {
    if (!this.settings.url) {
      this.status = 'unknown';
      this.error = '';
      return;
    }
    const c = this.client;
    if (!c) {
      this.status = 'down';
      this.error = `"${this.settings.url}" is not an http(s) URL.`;
      return;
    }
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      this.caps ??= await c.capabilities();
      if (!this.caps.reachable) throw new RemoteError(`The inference node at ${c.baseUrl} cannot be reached.`, 0, c.baseUrl);
      const [health, models, system, gpu, stats, datasets] = await Promise.all([
        this.caps.health ? c.health() : Promise.resolve(null),
        this.caps.models ? c.models() : Promise.resolve([] as ModelRecord[]),
        this.caps.telemetry ? c.system().catch(() => null) : Promise.resolve(null),
        this.caps.telemetry ? c.gpu().catch(() => null) : Promise.resolve(null),
        this.caps.jobs ? c.jobStats().catch(() => null) : Promise.resolve(null),
        this.caps.deploy ? c.datasets().catch(() => [] as DatasetRecord[]) : Promise.resolve([] as DatasetRecord[]),
      ]);
      this.health = health;
      this.models = models;
      this.system = system;
      this.gpu = gpu;
      this.stats = stats;
      this.datasets = datasets;
      this.status = 'up';
      if (this.error && !this.busy) this.error = '';
    } catch (e) {
      this.status = e instanceof RemoteError && e.status === 401 ? 'unauthorized' : 'down';
      if (this.status === 'down') this.caps = null;
      this.error = describeError(e);
    } finally {
      this.refreshing = false;
    }
  }

  private async act<T>(label: string, fn: (c: RemoteClient) => Promise<T>): Promise<T | undefined> {
    const c = this.client;
    if (!c) return undefined;
    this.busy = label;
    this.error = '';
    try {
      return await fn(c);
    } catch (e) {
      this.error = `${label} failed: ${describeError(e)}`;
      return undefined;
    } finally {
      this.busy = '';
      void this.refresh();
    }
  }

  /** Upload, register and set active. */
  deploy(id: string, zip: Uint8Array | Blob, tags: string[] = []): Promise<ModelRecord | undefined> {
    return this.act('Deploy', (c) => c.deploy(id, zip, tags));
  }

  setActive(id: string): Promise<unknown> {
    return this.act('Activate', (c) => c.setActive(id));
  }

  uploadEvalSet(id: string, file: Blob): Promise<DatasetRecord | undefined> {
    return this.act('Upload eval set', (c) => c.uploadDataset(id, file));
  }

  evaluate(modelId: string, datasetRef: string, profile: string, maxSamples: number | undefined, onProgress?: (j: Job<EvalResult>) => void): Promise<Job<EvalResult> | undefined> {
    return this.act('Evaluate', async (c) => {
      const job = await c.createEvalJob({ model_id: modelId, dataset_ref: datasetRef, profile, metrics: ['accuracy', 'loss', 'ece'], max_samples: maxSamples, per_example_logging: true });
      const done = await c.waitForJob<EvalResult>(job, { pollMs: 500, onProgress: (j) => { this.lastEval = j; onProgress?.(j); } });
      this.lastEval = done;
      if (done.status === 'failed') throw new Error(done.error ?? 'the eval job failed');
      return done;
    });
  }

  dataGen(modelId: string, strategy: DataGenStrategy, config: { num_examples: number; domain?: string; task?: string; eval_job_id?: string }): Promise<Job<DataGenResult> | undefined> {
    return this.act('Generate data', async (c) => {
      const job = await c.createDataGenJob({ model_id: modelId, strategy, config });
      const done = await c.waitForJob<DataGenResult>(job, { pollMs: 500, onProgress: (j) => (this.lastDataGen = j) });
      this.lastDataGen = done;
      if (done.status === 'failed') throw new Error(done.error ?? 'the data-gen job failed');
      return done;
    });
  }

  /** Streams a chat answer from the node; errors propagate to the caller (the chat shows them). */
  async chat(messages: ChatMessage[], onDelta: (t: string) => void, signal: AbortSignal, temperature: number, maxTokens: number): Promise<string> {
    const c = this.client;
    if (!c) throw new Error('Set the node URL first.');
    const model = this.health?.active_model ?? undefined;
    const r = await c.chatStream({ model, messages, temperature, max_tokens: maxTokens }, onDelta, signal);
    return r.text;
  }
}
