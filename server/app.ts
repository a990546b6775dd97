/**
 * The inference node as an HTTP server: the route table (path, method, key needed), wiring of the
 * registry, model host, job worker and telemetry, and start/stop. server/main.ts is its CLI.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { DataGenRequest, DataGenResult, EvalJobRequest, JobStatus, JobType, PowerProfile, VersionInfo } from '../src/remote/api.ts';
import { openDb, type Db } from './db.ts';
import { HttpError, applyCors, checkAccess, optBool, optNumber, optString, optStringArray, readJson, reqString, sendError, sendJson, type Access, type Keys } from './http.ts';
import { Registry, checkId } from './registry.ts';
import { JobStore, JobWorker } from './jobs.ts';
import { ModelHost, type InferenceEngine } from './model-host.ts';
import { handleChat, handleGenerate } from './chat.ts';
import { Logs, POWER_PROFILES, gpuSummary, gpuTelemetry, powerProfile, systemInfo } from './telemetry.ts';
import { extractZip, receiveMultipart } from './upload.ts';
import { validateChatJsonl } from './datasets.ts';
import { runEvalJob } from './eval-job.ts';
import { runDataGenJob } from './datagen-job.ts';

export const NODE_VERSION = '0.1.0';

export interface NodeOptions {
  dataDir: string;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  keys: Keys;
  /** Allowed CORS origins; empty = any localhost origin. */
  origins?: string[];
  engine: InferenceEngine;
  maxJsonBytes?: number;
  maxModelUploadBytes?: number;
  maxDatasetBytes?: number;
  /** Upper bound on max_tokens of one generation. */
  maxTokens?: number;
  /** Time limit of one generation, ms. */
  generationTimeLimitMs?: number;
  /** max_tokens of eval answers and data-gen generations. */
  jobMaxTokens?: number;
}

export interface RunningNode {
  url: string;
  server: Server;
  registry: Registry;
  jobs: JobStore;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;
interface Route {
  method: 'GET' | 'POST';
  path: RegExp;
  access: Access;
  handler: Handler;
}

const JOB_TYPES: readonly JobType[] = ['eval', 'data_gen'];
const JOB_STATUSES: readonly JobStatus[] = ['pending', 'running', 'done', 'failed'];

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  mkdirSync(join(dataDir, 'datasets'), { recursive: true });
  const tmpDir = join(dataDir, 'tmp');
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const maxJson = opts.maxJsonBytes ?? 4 * 1024 * 1024;
  const maxModel = opts.maxModelUploadBytes ?? 8 * 1024 ** 3;
  const maxDataset = opts.maxDatasetBytes ?? 1024 ** 3;
  const limits = { maxBodyBytes: maxJson, maxTokens: opts.maxTokens ?? 2048, timeLimitMs: opts.generationTimeLimitMs ?? 120_000 };
  const jobLimits = { maxTokens: opts.jobMaxTokens ?? 256, timeLimitMs: limits.timeLimitMs };

  const db: Db = openDb(dataDir);
  const logs = new Logs(dataDir);
  const log = (line: string): void => logs.write('server', line);
  const registry = new Registry(db);
  const jobs = new JobStore(db);
  const interrupted = jobs.failInterrupted();
  if (interrupted) log(`${interrupted} job(s) left running by the previous process marked failed`);
  const host = new ModelHost(opts.engine, registry, log);
  const worker = new JobWorker(
    jobs,
    {
      eval: (job, progress) => runEvalJob(job, host, registry, jobLimits, progress),
      data_gen: (job, progress) => runDataGenJob(job, host, jobs, jobLimits, progress),
    },
    (line) => logs.write('jobs', line),
  );

  const active = registry.activeModel();
  if (active) {
    try {
      await host.load(active.id);
    } catch (e) {
      log(`active model ${active.id} could not be loaded at start: ${(e as Error).message}`);
    }
  }

  const json = (res: ServerResponse, body: unknown): void => sendJson(res, 200, body);

  const routes: Route[] = [
    { method: 'GET', path: /^\/health$/, access: 'none', handler: async (_q, res) => {
      json(res, { status: host.lastLoadError ? 'degraded' : 'ok', gpu: await gpuSummary(), active_model: host.modelInfo().model_id, worker_busy: worker.busy });
    } },
    { method: 'GET', path: /^\/version$/, access: 'none', handler: async (_q, res) => {
      const v: VersionInfo = { name: 'training-workbench-inference-node', version: NODE_VERSION, api: 'inference-node/1' };
      json(res, v);
    } },
    { method: 'GET', path: /^\/models$/, access: 'read', handler: async (_q, res) => json(res, { models: registry.listModels() }) },
    { method: 'GET', path: /^\/models\/active$/, access: 'read', handler: async (_q, res) => {
      const a = registry.activeModel();
      if (!a) throw new HttpError(404, 'No model is active.', 'not_found_error');
      json(res, a);
    } },
    { method: 'GET', path: /^\/models\/info$/, access: 'read', handler: async (_q, res) => json(res, host.modelInfo()) },
    { method: 'POST', path: /^\/models\/register$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const id = checkId(reqString(body, 'id'));
      const source = reqString(body, 'source');
      const tags = optStringArray(body, 'tags') ?? [];
      const path = resolve(source);
      if (!existsSync(path)) throw new HttpError(400, `Field "source": no folder at ${path} on the node.`, 'invalid_request_error', 'source');
      try {
        await opts.engine.validateFolder(path);
      } catch (e) {
        throw new HttpError(400, `Field "source": ${path} is not a loadable model folder: ${(e as Error).message}`, 'invalid_request_error', 'source');
      }
      json(res, registry.putModel(id, path, source, tags));
    } },
    { method: 'POST', path: /^\/models\/upload$/, access: 'admin', handler: async (req, res) => {
      const form = await receiveMultipart(req, tmpDir, maxModel);
      const tmpFolder = join(tmpDir, `model-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      try {
        const id = checkId(form.fields.id ?? '', 'id');
        if (!form.filePath) throw new HttpError(400, 'Field "file" (the zipped model folder) is missing.', 'invalid_request_error', 'file');
        await extractZip(form.filePath, tmpFolder, 2 * maxModel);
        try {
          await opts.engine.validateFolder(tmpFolder);
        } catch (e) {
          throw new HttpError(400, `The zip is not a valid model folder: ${(e as Error).message}`, 'invalid_request_error', 'file');
        }
        const dest = join(dataDir, 'models', id);
        rmSync(dest, { recursive: true, force: true });
        renameSync(tmpFolder, dest);
        const tags = (form.fields.tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
        log(`model ${id} uploaded (${form.bytes} bytes)`);
        const rec = registry.putModel(id, dest, form.fileName ? `upload:${form.fileName}` : 'upload', tags);
        // re-deploying the loaded model: answer with the new weights from now on
        if (host.modelInfo().model_id === id) await host.load(id);
        json(res, rec);
      } finally {
        if (form.filePath) rmSync(form.filePath, { force: true });
        rmSync(tmpFolder, { recursive: true, force: true });
      }
    } },
    { method: 'POST', path: /^\/models\/set_active$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const id = reqString(body, 'id');
      registry.requireModel(id);
      const info = await host.load(id);
      registry.setActive(id);
      json(res, { ...registry.requireModel(id), info });
    } },
    { method: 'POST', path: /^\/models\/reload$/, access: 'admin', handler: async (_q, res) => {
      const a = registry.activeModel();
      if (!a) throw new HttpError(409, 'No model is active to reload.', 'conflict_error');
      json(res, await host.load(a.id));
    } },
    { method: 'POST', path: /^\/v1\/chat\/completions$/, access: 'read', handler: (req, res) => handleChat(req, res, host, registry, limits) },
    { method: 'POST', path: /^\/generate$/, access: 'read', handler: (req, res) => handleGenerate(req, res, host, limits) },
    { method: 'POST', path: /^\/datasets$/, access: 'admin', handler: async (req, res) => {
      const form = await receiveMultipart(req, tmpDir, maxDataset);
      try {
        const id = checkId(form.fields.id ?? '', 'id');
        if (!form.filePath) throw new HttpError(400, 'Field "file" (a chat JSONL file) is missing.', 'invalid_request_error', 'file');
        const examples = await validateChatJsonl(form.filePath, form.fileName ?? id);
        const dest = join(dataDir, 'datasets', `${id}.jsonl`);
        renameSync(form.filePath, dest);
        json(res, registry.putDataset(id, dest, examples, form.bytes));
      } finally {
        if (form.filePath) rmSync(form.filePath, { force: true });
      }
    } },
    { method: 'GET', path: /^\/datasets$/, access: 'read', handler: async (_q, res) => json(res, { datasets: registry.listDatasets() }) },
    { method: 'POST', path: /^\/eval\/jobs$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const modelId = reqString(body, 'model_id');
      registry.requireModel(modelId);
      const datasetRef = reqString(body, 'dataset_ref');
      registry.requireDataset(datasetRef);
      const params: EvalJobRequest = {
        model_id: modelId,
        name: optString(body, 'name') ?? `eval of ${modelId} on ${datasetRef}`,
        dataset_ref: datasetRef,
        profile: optString(body, 'profile') ?? 'plain_sft',
        metrics: optStringArray(body, 'metrics') ?? ['accuracy', 'loss'],
        per_example_logging: optBool(body, 'per_example_logging') ?? true,
      };
      const maxSamples = optNumber(body, 'max_samples', 1, 1e7);
      if (maxSamples !== undefined) params.max_samples = Math.floor(maxSamples);
      try {
        const { getProfile } = await import('../src/profiles/index.ts');
        getProfile(params.profile as string);
      } catch (e) {
        throw new HttpError(400, `Field "profile": ${(e as Error).message}`, 'invalid_request_error', 'profile');
      }
      const job = jobs.create('eval', modelId, params);
      worker.poke();
      json(res, job);
    } },
    { method: 'POST', path: /^\/data_gen\/jobs$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const modelId = reqString(body, 'model_id');
      registry.requireModel(modelId);
      const strategy = reqString(body, 'strategy');
      if (!['self_instruct', 'fix_eval_failures', 'builtin'].includes(strategy)) {
        throw new HttpError(400, `Field "strategy" must be self_instruct, fix_eval_failures or builtin, got "${strategy}".`, 'invalid_request_error', 'strategy');
      }
      const config = body.config as Record<string, unknown> | undefined;
      if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new HttpError(400, 'Field "config" must be an object with num_examples.', 'invalid_request_error', 'config');
      const num = config.num_examples;
      if (typeof num !== 'number' || !Number.isInteger(num) || num < 1 || num > 100_000) {
        throw new HttpError(400, 'Field "config.num_examples" must be an integer in [1, 100000].', 'invalid_request_error', 'config.num_examples');
      }
      const params = { model_id: modelId, strategy, config } as DataGenRequest;
      const job = jobs.create('data_gen', modelId, params);
      worker.poke();
      json(res, job);
    } },
    { method: 'GET', path: /^\/eval\/jobs\/([^/]+)$/, access: 'read', handler: async (_q, res, p) => json(res, jobs.require(decodeURIComponent(p[0]), 'eval')) },
    { method: 'GET', path: /^\/data_gen\/jobs\/([^/]+)\/shards\/([^/]+)$/, access: 'read', handler: async (_q, res, p) => {
      const job = jobs.require(decodeURIComponent(p[0]), 'data_gen');
      const name = decodeURIComponent(p[1]);
      const shard = (job.result as DataGenResult | null)?.shards.find((s) => s.name === name);
      if (!shard) throw new HttpError(404, `Job ${job.id} has no shard "${name}"${job.status === 'done' ? '' : ` (the job is ${job.status})`}.`, 'not_found_error');
      res.writeHead(200, { 'Content-Type': 'application/jsonl; charset=utf-8', 'Content-Disposition': `attachment; filename="${shard.name}"` });
      res.end(shard.jsonl);
    } },
    { method: 'GET', path: /^\/data_gen\/jobs\/([^/]+)$/, access: 'read', handler: async (_q, res, p) => json(res, jobs.require(decodeURIComponent(p[0]), 'data_gen')) },
    { method: 'GET', path: /^\/jobs$/, access: 'read', handler: async (_q, res, _p, query) => {
      const type = query.get('type') ?? undefined;
      const status = query.get('status') ?? undefined;
      if (type && !JOB_TYPES.includes(type as JobType)) throw new HttpError(400, `Query "type" must be one of ${JOB_TYPES.join(', ')}.`, 'invalid_request_error', 'type');
      if (status && !JOB_STATUSES.includes(status as JobStatus)) throw new HttpError(400, `Query "status" must be one of ${JOB_STATUSES.join(', ')}.`, 'invalid_request_error', 'status');
      const limit = Number(query.get('limit') ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'Query "limit" must be an integer in [1, 1000].', 'invalid_request_error', 'limit');
      json(res, { jobs: jobs.list({ type: type as JobType | undefined, status: status as JobStatus | undefined, limit }) });
    } },
    { method: 'GET', path: /^\/jobs\/stats$/, access: 'read', handler: async (_q, res) => json(res, jobs.stats()) },
    { method: 'GET', path: /^\/gpu$/, access: 'read', handler: async (_q, res) => json(res, await gpuTelemetry()) },
    { method: 'GET', path: /^\/system$/, access: 'read', handler: async (_q, res) => json(res, systemInfo(dataDir)) },
    { method: 'GET', path: /^\/settings\/power_profile$/, access: 'admin', handler: async (_q, res) => json(res, { ...powerProfile(), profiles: POWER_PROFILES }) },
    { method: 'POST', path: /^\/settings\/power_profile$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const profile = reqString(body, 'profile');
      if (!(profile in POWER_PROFILES)) throw new HttpError(400, `Field "profile" must be quiet, normal or max, got "${profile}".`, 'invalid_request_error', 'profile');
      const state = powerProfile();
      if (!state.supported) throw new HttpError(501, `Cannot set power profile "${profile as PowerProfile}": ${state.message}`, 'not_supported');
      json(res, state);
    } },
    { method: 'GET', path: /^\/logs\/([^/]+)$/, access: 'admin', handler: async (_q, res, p, query) => {
      const lines = Number(query.get('lines') ?? 100);
      if (!Number.isInteger(lines) || lines < 1 || lines > 10_000) throw new HttpError(400, 'Query "lines" must be an integer in [1, 10000].', 'invalid_request_error', 'lines');
      json(res, logs.tail(decodeURIComponent(p[0]), lines));
    } },
  ];

  const server = createServer((req, res) => {
    void (async () => {
      try {
        applyCors(req, res, opts.origins ?? []);
        const url = new URL(req.url ?? '/', 'http://node');
        if (req.method === 'OPTIONS') {
          res.writeHead(204);
          res.end();
          return;
        }
        const matches = routes.filter((r) => r.path.test(url.pathname));
        if (matches.length === 0) throw new HttpError(404, `No endpoint ${url.pathname}.`, 'not_found_error');
        const route = matches.find((r) => r.method === req.method);
        if (!route) {
          res.setHeader('Allow', [...new Set(matches.map((r) => r.method))].join(', '));
          throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}; use ${matches.map((r) => r.method).join(' or ')}.`);
        }
        checkAccess(req, route.access, opts.keys);
        const params = (route.path.exec(url.pathname) ?? []).slice(1);
        await route.handler(req, res, params, url.searchParams);
      } catch (e) {
        if (!(e instanceof HttpError)) log(`error on ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
        sendError(res, e);
        req.resume();
      }
    })();
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8765, opts.host ?? '127.0.0.1', () => ok());
  });
  const addr = server.address() as AddressInfo;
  const hostName = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${hostName}:${addr.port}`;
  log(`listening on ${url}, data in ${dataDir}`);
  worker.start();

  return {
    url,
    server,
    registry,
    jobs,
    async close() {
      await worker.stop();
      await new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      host.dispose();
      db.close();
    },
  };
}
