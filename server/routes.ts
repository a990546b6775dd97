/**
 * What every route module shares: the route record (path, method, key needed, handler) and the node's
 * parts a handler may use (NodeContext), built once by app.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Access } from './http.ts';
import { sendJson } from './http.ts';
import type { InferenceEngine, ModelHost } from './model-host.ts';
import type { Registry } from './registry.ts';
import type { JobStore, JobWorker } from './jobs.ts';
import type { Logs } from './telemetry.ts';
import type { ChatLimits } from './chat.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;
export interface Route {
  method: 'GET' | 'POST';
  path: RegExp;
  access: Access;
  handler: Handler;
}

export interface NodeContext {
  dataDir: string;
  tmpDir: string;
  maxJson: number;
  maxModel: number;
  maxDataset: number;
  limits: ChatLimits;
  engine: InferenceEngine;
  registry: Registry;
  jobs: JobStore;
  worker: JobWorker;
  host: ModelHost;
  logs: Logs;
  log: (line: string) => void;
}

export const json = (res: ServerResponse, body: unknown): void => sendJson(res, 200, body);
