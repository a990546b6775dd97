/**
 * The inference node as an HTTP server: builds the registry, model host, job worker and logs, joins the
 * route tables of routes-*.ts, dispatches requests (CORS, 404/405, key check, errors), starts and stops.
 * server/main.ts is its CLI.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { openDb, type Db } from './db.ts';
import { HttpError, applyCors, checkAccess, sendError, type Keys } from './http.ts';
import { Registry } from './registry.ts';
import type { NodeContext, Route } from './routes.ts';
import { statusRoutes } from './routes-telemetry.ts';
import { modelRoutes } from './routes-models.ts';
import { jobRoutes } from './routes-jobs.ts';
import { JobStore, JobWorker } from './jobs.ts';
import { ModelHost, type InferenceEngine } from './model-host.ts';
import { Logs } from './telemetry.ts';
import { runEvalJob } from './eval-job.ts';
import { runDataGenJob } from './datagen-job.ts';

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

  const ctx: NodeContext = { dataDir, tmpDir, maxJson, maxModel, maxDataset, limits, engine: opts.engine, registry, jobs, worker, host, logs, log };
  const routes: Route[] = [...statusRoutes(ctx), ...modelRoutes(ctx), ...jobRoutes(ctx)];

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
