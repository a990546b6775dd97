/**
 * Job routes: creating eval and data-gen jobs (validated, then queued for the worker), reading them,
 * their shards, the job list and counts.
 */
import type { DataGenRequest, DataGenResult, EvalJobRequest, JobStatus, JobType } from '../src/remote/api.ts';
import { profileNames } from '../src/profiles/index.ts';
import { HttpError, optBool, optNumber, optString, optStringArray, readJson, reqString } from './http.ts';
import { json, type NodeContext, type Route } from './routes.ts';

const JOB_TYPES: readonly JobType[] = ['eval', 'data_gen'];
/** Metrics an eval job may ask for (eval-job.ts computes them). */
const EVAL_METRICS: readonly string[] = ['accuracy', 'loss', 'ece'];
const JOB_STATUSES: readonly JobStatus[] = ['pending', 'running', 'done', 'failed'];

export function jobRoutes(ctx: NodeContext): Route[] {
  const { maxJson, registry, jobs, worker } = ctx;
  return [
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
      if (!profileNames.includes(params.profile as string)) {
        throw new HttpError(400, `Field "profile": unknown profile "${params.profile}"; expected one of: ${profileNames.join(', ')}`, 'invalid_request_error', 'profile');
      }
      const unknown = params.metrics!.filter((m) => !EVAL_METRICS.includes(m));
      if (unknown.length > 0) {
        throw new HttpError(400, `Field "metrics": unknown metric "${unknown[0]}"; expected some of: ${EVAL_METRICS.join(', ')}`, 'invalid_request_error', 'metrics');
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
  ];
}
