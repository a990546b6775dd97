/**
 * HTTP plumbing of the inference node: typed HTTP errors with OpenAI-style bodies, JSON and SSE
 * responses, size-capped body reading, CORS and the X-API-Key check (admin vs read keys).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorBody } from '../src/remote/api.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    /** OpenAI's machine-readable `code` (e.g. `model_not_found`); the status as text when not given. */
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function errorBody(status: number, message: string, type: string, param: string | null = null, code: string | null = null): ErrorBody {
  return { error: { message, type, code: code ?? String(status), param } };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (err instanceof HttpError) {
    sendJson(res, err.status, errorBody(err.status, err.message, err.type, err.param, err.code));
  } else {
    const message = err instanceof Error ? err.message : String(err);
    sendJson(res, 500, errorBody(500, `Internal error: ${message}`, 'server_error'));
  }
}

/** Reads the whole body, refusing more than `maxBytes` with 413. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new HttpError(413, `Request body of ${declared} bytes is over the limit of ${maxBytes} bytes.`, 'request_too_large');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      req.resume();
      throw new HttpError(413, `Request body is over the limit of ${maxBytes} bytes.`, 'request_too_large');
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON object body; 400 naming the position for malformed JSON. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const text = (await readBody(req, maxBytes)).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'Request body is empty; expected a JSON object.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `Malformed JSON in request body: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'Request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

// ---------------------------------------------------------------- field readers (400 naming the field)

export function reqString(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw new HttpError(400, `Field "${field}" is required and must be a non-empty string.`, 'invalid_request_error', field);
  return v;
}
export function optString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, `Field "${field}" must be a string.`, 'invalid_request_error', field);
  return v;
}
export function optNumber(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new HttpError(400, `Field "${field}" must be a number in [${min}, ${max}], got ${JSON.stringify(v)}.`, 'invalid_request_error', field);
  }
  return v;
}
export function optBool(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new HttpError(400, `Field "${field}" must be true or false.`, 'invalid_request_error', field);
  return v;
}
export function optStringArray(body: Record<string, unknown>, field: string): string[] | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new HttpError(400, `Field "${field}" must be an array of strings.`, 'invalid_request_error', field);
  }
  return v as string[];
}

// ---------------------------------------------------------------- CORS and auth

/** `origins` empty → any http(s)://localhost or 127.0.0.1 origin; otherwise the exact list ("*" allows all). */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: readonly string[]): void {
  const origin = req.headers.origin;
  if (!origin) return;
  const allowed =
    origins.length === 0
      ? /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(origin)
      : origins.includes('*') || origins.includes(origin);
  if (!allowed) return;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-API-Key, Authorization');
  res.setHeader('Access-Control-Max-Age', '600');
  // Chrome's Private Network Access preflight (a page on another address calling a node on this machine)
  if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('Access-Control-Allow-Private-Network', 'true');
}

export type Access = 'none' | 'read' | 'admin';
export interface Keys {
  admin: string;
  read: string | null;
}

/** Throws 401 without a valid key and 403 for a read key on an admin endpoint. */
export function checkAccess(req: IncomingMessage, need: Access, keys: Keys): void {
  if (need === 'none') return;
  const header = req.headers['x-api-key'];
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const key = (Array.isArray(header) ? header[0] : header) ?? bearer;
  if (!key) throw new HttpError(401, 'Missing API key: send it in the X-API-Key header.', 'authentication_error');
  const isAdmin = key === keys.admin;
  const isRead = keys.read !== null && key === keys.read;
  if (!isAdmin && !isRead) throw new HttpError(401, 'Invalid API key.', 'authentication_error');
  if (need === 'admin' && !isAdmin) throw new HttpError(403, 'This endpoint needs the admin key; a read key was sent.', 'permission_error');
}
