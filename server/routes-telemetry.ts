/**
 * Status and telemetry routes: /health, /version (no key), /gpu, /system, the power profile and /logs/{name}.
 */
import type { PowerProfile, VersionInfo } from '../src/remote/api.ts';
import { HttpError, readJson, reqString } from './http.ts';
import { POWER_PROFILES, gpuSummary, gpuTelemetry, powerProfile, systemInfo } from './telemetry.ts';
import { json, type NodeContext, type Route } from './routes.ts';

export const NODE_VERSION = '0.1.0';

export function statusRoutes(ctx: NodeContext): Route[] {
  const { dataDir, maxJson, worker, host, logs } = ctx;
  return [
    { method: 'GET', path: /^\/health$/, access: 'none', handler: async (_q, res) => {
      json(res, { status: host.lastLoadError ? 'degraded' : 'ok', gpu: await gpuSummary(), active_model: host.modelInfo().model_id, worker_busy: worker.busy });
    } },
    { method: 'GET', path: /^\/version$/, access: 'none', handler: async (_q, res) => {
      const v: VersionInfo = { name: 'training-workbench-inference-node', version: NODE_VERSION, api: 'inference-node/1' };
      json(res, v);
    } },
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
}
