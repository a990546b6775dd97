/**
 * The remote client without a model: SSE parsing of real byte streams, errors with HTTP status,
 * timeouts and retries against real local servers, capability detection against a bare
 * OpenAI-compatible server, and the settings kept in browser storage.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RemoteClient, RemoteError } from '../../src/remote/client.ts';
import { sseData } from '../../src/remote/sse.ts';
import { DEFAULT_REMOTE_SETTINGS, REMOTE_SETTINGS_KEY, loadRemoteSettings, saveRemoteSettings } from '../../src/remote/settings.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((ok) => { s.closeAllConnections(); s.close(() => ok()); })));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

async function collect(parts: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const d of sseData(streamOf(parts))) out.push(d);
  return out;
}

describe('sseData', () => {
  it('splits events across chunk boundaries, joins multi-line data, skips comments and stops at [DONE]', async () => {
    expect(await collect(['data: {"a":', '1}\n\n: comment\n\ndata: x\ndata: y\r\n\r\nda', 'ta: z\n\ndata: [DONE]\n\ndata: after\n\n'])).toEqual(['{"a":1}', 'x\ny', 'z']);
  });
  it('keeps multi-byte characters split between chunks whole', async () => {
    const bytes = new TextEncoder().encode('data: héllo 👋\n\n');
    const s = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(bytes.slice(0, 8)); c.enqueue(bytes.slice(8, 13)); c.enqueue(bytes.slice(13)); c.close(); } });
    const out: string[] = [];
    for await (const d of sseData(s)) out.push(d);
    expect(out).toEqual(['héllo 👋']);
  });
  it('yields a last event without a trailing blank line', async () => {
    expect(await collect(['data: last'])).toEqual(['last']);
  });
});

describe('RemoteClient', () => {
  it('reports a node that is down as unreachable (status 0), quickly, after retrying idempotent calls', async () => {
    const url = await serve(() => undefined);
    const port = new URL(url).port;
    await new Promise<void>((ok) => { servers[0].close(() => ok()); });
    servers.length = 0;
    const c = new RemoteClient({ baseUrl: `http://127.0.0.1:${port}`, retries: 2, backoffMs: 10 });
    const t0 = Date.now();
    const e = (await c.health().catch((x: unknown) => x)) as RemoteError;
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.status).toBe(0);
    expect(e.unreachable).toBe(true);
    expect(e.message).toMatch(/cannot be reached/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('times out a node that never answers instead of hanging', async () => {
    let hits = 0;
    const url = await serve(() => { hits++; });
    const c = new RemoteClient({ baseUrl: url, timeoutMs: 150, retries: 1, backoffMs: 10 });
    const e = (await c.models().catch((x: unknown) => x)) as RemoteError;
    expect(e.status).toBe(0);
    expect(e.type).toBe('timeout');
    expect(hits).toBe(2);
  });

  it('retries idempotent calls on 503 and succeeds; never retries a POST; keeps the status and message of errors', async () => {
    let gets = 0;
    let posts = 0;
    const url = await serve((req, res) => {
      if (req.method === 'GET') {
        gets++;
        if (gets < 3) {
          res.writeHead(503, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'warming up', type: 'unavailable', code: '503' } }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ models: [] }));
        return;
      }
      posts++;
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ detail: 'busy' }));
    });
    const c = new RemoteClient({ baseUrl: url, adminKey: 'k', retries: 2, backoffMs: 5 });
    expect(await c.models()).toEqual([]);
    expect(gets).toBe(3);
    const e = (await c.registerModel({ id: 'a', source: '/x' }).catch((x: unknown) => x)) as RemoteError;
    expect(e.status).toBe(503);
    expect(e.message).toBe('busy');
    expect(posts).toBe(1);
  });

  it('sends the read key on read calls and the admin key on admin calls', async () => {
    const seen: string[] = [];
    const url = await serve((req, res) => {
      seen.push(`${req.url} ${String(req.headers['x-api-key'])}`);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"models": [], "name": "server", "lines": []}');
    });
    const c = new RemoteClient({ baseUrl: url + '/', adminKey: 'ADM', readKey: 'RD' });
    await c.models();
    await c.logs('server', 3);
    await c.health();
    expect(seen).toEqual(['/models RD', '/logs/server?lines=3 ADM', '/health undefined']);
  });

  it('detects a bare OpenAI-compatible server: chat works, node-only features are hidden', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/v1/models') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'llama' }] }));
        return;
      }
      if (req.url === '/v1/chat/completions' && req.method === 'POST') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n');
        res.write('data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n');
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    });
    const c = new RemoteClient({ baseUrl: url, readKey: 'x' });
    const caps = await c.capabilities();
    expect(caps).toEqual({ reachable: true, health: false, models: false, deploy: false, jobs: false, telemetry: false, chat: true });
    const deltas: string[] = [];
    const r = await c.chatStream({ messages: [{ role: 'user', content: 'hi' }] }, (d) => deltas.push(d));
    expect(r).toEqual({ text: 'Hello', finishReason: 'stop' });
    expect(deltas).toEqual(['Hel', 'lo']);
    const e = (await c.jobStats().catch((x: unknown) => x)) as RemoteError;
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/404.*not found/);
  });

  it('turns an error event inside a stream into a RemoteError', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: {"error":{"message":"generation failed","type":"server_error","code":"500"}}\n\n');
      res.end('data: [DONE]\n\n');
    });
    const c = new RemoteClient({ baseUrl: url });
    await expect(c.chatStream({ messages: [{ role: 'user', content: 'hi' }] }, () => undefined)).rejects.toMatchObject({ status: 500, message: 'generation failed' });
  });

  it('stops a stream on abort and keeps the text so far', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: {"choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n');
      // never ends by itself
    });
    const c = new RemoteClient({ baseUrl: url });
    const ac = new AbortController();
    const r = await c.chatStream({ messages: [{ role: 'user', content: 'hi' }] }, () => ac.abort(), ac.signal);
    expect(r).toEqual({ text: 'partial', finishReason: 'aborted' });
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => new RemoteClient({ baseUrl: 'ftp://x' })).toThrow(/http/);
  });
});

describe('remote settings', () => {
  it('round-trips through a Storage and falls back to defaults on junk', () => {
    const m = new Map<string, string>();
    const storage = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
    expect(loadRemoteSettings(storage)).toEqual(DEFAULT_REMOTE_SETTINGS);
    saveRemoteSettings({ url: ' http://node:8765 ', adminKey: 'a', readKey: 'r' }, storage);
    expect(loadRemoteSettings(storage)).toEqual({ url: 'http://node:8765', adminKey: 'a', readKey: 'r' });
    m.set(REMOTE_SETTINGS_KEY, '{nope');
    expect(loadRemoteSettings(storage)).toEqual(DEFAULT_REMOTE_SETTINGS);
  });
});
