/**
 * A local stand-in for the Hugging Face Hub (Node http, 127.0.0.1), with the Hub's URL layout and behaviour, for the
 * Hub import's tests: model info (`/api/models/{repo}`, `/api/models/{repo}/revision/{rev}`), the file tree
 * (`/api/models/{repo}/tree/{rev}`), and files (`/{repo}/resolve/{rev}/{file}`, GET and HEAD) with ETag,
 * X-Linked-Size / X-Linked-ETag, a redirect of large (LFS) files to a CDN-like path, byte ranges, CORS (with
 * Cross-Origin-Resource-Policy: cross-origin, the page being cross-origin isolated), a 401 for a gated repo asked
 * without its token, and 404s with the Hub's X-Error-Code. Every request is logged (method, path, Range, token);
 * one file can be throttled after a given byte offset so a test can interrupt its download.
 * Run alone: `npx tsx tests/hub/mock-hub.ts [port]` serves the bundled tiny model as `tiny/qwen3-tiny`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface MockRepo {
  /** File path → bytes (a flat model folder). */
  files: Record<string, Uint8Array>;
  /** Requests for files must carry `Authorization: Bearer {token}`, as for a gated repo the person was granted. */
  gatedToken?: string;
}

export interface Throttle {
  repo: string;
  path: string;
  /** Bytes of the file (absolute offset) sent at full speed by a request that starts below this offset. */
  afterBytes: number;
  /** The rate after that (0: hold the connection open, sending nothing more, until the client goes away). */
  bytesPerSec: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  token?: string;
  /** The repo file a resolve or CDN request was for. */
  file?: string;
}

export interface MockHub {
  url: string;
  requests: LoggedRequest[];
  /** The commit sha a repo's `main` points at (changes when a file is replaced). */
  sha(repo: string): string;
  /** Replaces (or adds) a file: its ETag and the repo's commit change, as a new commit on the Hub would. */
  setFile(repo: string, path: string, bytes: Uint8Array): void;
  throttle(t: Throttle | null): void;
  close(): Promise<void>;
}

/** Files at least this large are "LFS" files: resolve redirects them to the CDN path, with X-Linked-* headers. */
const LFS_BYTES = 1024 * 1024;
const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Authorization, Range, Accept, Content-Type, If-Range, If-None-Match',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Expose-Headers':
    'ETag, X-Linked-Size, X-Linked-ETag, X-Repo-Commit, X-Error-Code, X-Error-Message, X-Request-Id, Content-Range, Content-Length, Accept-Ranges, Link, Location',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

interface RepoState extends MockRepo {
  sha: string;
  etags: Record<string, string>;
}

function stateOf(name: string, repo: MockRepo, generation = 0): RepoState {
  const etags = Object.fromEntries(Object.entries(repo.files).map(([p, b]) => [p, sha256(b)]));
  return { ...repo, etags, sha: sha1(`${name}|${generation}|${Object.values(etags).join(',')}`) };
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'bad' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number, end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? 'bad' : { start, end };
}

export async function startMockHub(repos: Record<string, MockRepo>, port = 0): Promise<MockHub> {
  const state = new Map(Object.entries(repos).map(([n, r]) => [n, stateOf(n, r)]));
  const requests: LoggedRequest[] = [];
  let throttle: Throttle | null = null;
  let generation = 0;

  const error = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { ...CORS, 'Content-Type': 'application/json; charset=utf-8', 'X-Error-Code': code, 'X-Error-Message': message });
    res.end(JSON.stringify({ error: message }));
  };
  const json = (res: ServerResponse, body: unknown, extra: Record<string, string> = {}) => {
    res.writeHead(200, { ...CORS, 'Content-Type': 'application/json; charset=utf-8', ...extra });
    res.end(JSON.stringify(body));
  };
  /** The repo named at the start of `parts` (always `owner/name`), or a 404 sent. */
  const repoAt = (res: ServerResponse, parts: string[]): [string, RepoState] | null => {
    const name = parts.slice(0, 2).join('/');
    const r = state.get(name);
    if (!r) error(res, 404, 'RepoNotFound', `Repository not found: ${name}`);
    return r ? [name, r] : null;
  };
  const revisionOk = (res: ServerResponse, r: RepoState, rev: string) => {
    const ok = rev === 'main' || rev === 'HEAD' || rev === r.sha;
    if (!ok) error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return ok;
  };
  const info = (name: string, r: RepoState) => ({
    _id: sha1(name).slice(0, 24),
    id: name,
    modelId: name,
    author: name.split('/')[0],
    sha: r.sha,
    private: false,
    gated: r.gatedToken ? 'manual' : false,
    disabled: false,
    downloads: 0,
    likes: 0,
    library_name: 'transformers',
    tags: ['safetensors', 'qwen3', 'text-generation'],
    pipeline_tag: 'text-generation',
    lastModified: new Date(0).toISOString(),
    createdAt: new Date(0).toISOString(),
    siblings: Object.keys(r.files).map((rfilename) => ({ rfilename })),
  });
  const tree = (r: RepoState) =>
    Object.entries(r.files).map(([path, b]) => ({
      type: 'file',
      oid: sha1(`blob ${b.length}\0${r.etags[path]}`),
      size: b.length,
      path,
      ...(b.length >= LFS_BYTES ? { lfs: { oid: r.etags[path], size: b.length, pointerSize: 134 } } : {}),
    }));

  /** Sends `bytes` (whole or the requested range), throttled past the throttle's offset when it applies. */
  const sendFile = (req: IncomingMessage, res: ServerResponse, repo: string, path: string, bytes: Uint8Array, etag: string, head: boolean) => {
    const range = parseRange(req.headers.range, bytes.length);
    if (range === 'bad') {
      res.writeHead(416, { ...CORS, 'Content-Range': `bytes */${bytes.length}` });
      return void res.end();
    }
    const { start, end } = range ?? { start: 0, end: bytes.length - 1 };
    const headers: Record<string, string> = {
      ...CORS,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
      ETag: `"${etag}"`,
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` } : {}),
    };
    res.writeHead(range ? 206 : 200, headers);
    if (head) return void res.end();
    const t = throttle;
    if (!t || t.repo !== repo || t.path !== path || start >= t.afterBytes || end < t.afterBytes) return void res.end(bytes.subarray(start, end + 1));
    res.write(bytes.subarray(start, t.afterBytes));
    let at = t.afterBytes;
    const step = Math.max(1, Math.round(t.bytesPerSec / 10));
    const timer = setInterval(() => {
      if (t.bytesPerSec === 0 || res.destroyed) return;
      const next = Math.min(end + 1, at + step);
      res.write(bytes.subarray(at, next));
      at = next;
      if (at > end) clearInterval(timer), res.end();
    }, 100);
    res.on('close', () => clearInterval(timer));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const logged: LoggedRequest = { method: req.method ?? 'GET', path: url.pathname, range: req.headers.range, token: auth };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'Access-Control-Max-Age': '600' });
      return void res.end();
    }
    requests.push(logged);
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(res, 405, 'MethodNotAllowed', `${req.method} is not allowed`);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // /api/models/{owner}/{name}[/revision/{rev} | /tree/{rev}[/{path}]]
    if (parts[0] === 'api' && parts[1] === 'models') {
      const found = repoAt(res, parts.slice(2));
      if (!found) return;
      const [name, r] = found;
      const [kind, rev = 'main'] = parts.slice(4);
      if (kind === undefined) return json(res, info(name, r));
      if (!revisionOk(res, r, rev)) return;
      if (kind === 'revision') return json(res, info(name, r));
      if (kind === 'tree') return json(res, parts.length > 6 ? [] : tree(r));
      return error(res, 404, 'NotFound', `Sorry, we can't find the page you are looking for.`);
    }
    // The CDN path a large file's resolve redirects to: /cdn/{etag}?repo=…&file=… (a signed URL on the real Hub).
    if (parts[0] === 'cdn' && parts.length === 2) {
      const repo = url.searchParams.get('repo') ?? '';
      const file = url.searchParams.get('file') ?? '';
      const r = state.get(repo);
      logged.file = file;
      if (!r || r.etags[file] !== parts[1]) return error(res, 403, 'SignatureDoesNotMatch', 'The link is not valid (the file changed)');
      return sendFile(req, res, repo, file, r.files[file], r.etags[file], req.method === 'HEAD');
    }
    // /{owner}/{name}/resolve/{rev}/{file}
    if (parts[2] === 'resolve' && parts.length >= 5) {
      const found = repoAt(res, parts);
      if (!found) return;
      const [name, r] = found;
      const file = parts.slice(4).join('/');
      logged.file = file;
      if (r.gatedToken && auth !== r.gatedToken) {
        const why = `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
        return error(res, 401, 'GatedRepo', why);
      }
      if (!revisionOk(res, r, parts[3])) return;
      const bytes = r.files[file];
      if (!bytes) return error(res, 404, 'EntryNotFound', `${file} does not exist on "${parts[3]}"`);
      const etag = r.etags[file];
      const common = { ...CORS, 'X-Repo-Commit': r.sha, ETag: `"${etag}"` };
      if (bytes.length >= LFS_BYTES) {
        const location = `/cdn/${etag}?repo=${encodeURIComponent(name)}&file=${encodeURIComponent(file)}`;
        res.writeHead(302, { ...common, Location: location, 'X-Linked-Size': String(bytes.length), 'X-Linked-ETag': `"${etag}"`, 'Content-Length': '0' });
        return void res.end();
      }
      return sendFile(req, res, name, file, bytes, etag, req.method === 'HEAD');
    }
    return error(res, 404, 'NotFound', `Sorry, we can't find the page you are looking for.`);
  };

  const server: Server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      if (!res.headersSent) error(res, 500, 'Internal', (e as Error).message);
      else res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    requests,
    sha: (repo) => state.get(repo)!.sha,
    setFile(repo, path, bytes) {
      const r = state.get(repo)!;
      state.set(repo, stateOf(repo, { files: { ...r.files, [path]: bytes }, gatedToken: r.gatedToken }, ++generation));
    },
    throttle: (t) => void (throttle = t),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The bundled tiny model's folder (public/models/qwen3-tiny, made by scripts/ensure-model.ts) as repo files. */
export function bundledTinyModel(): Record<string, Uint8Array> {
  const dir = fileURLToPath(new URL('../../public/models/qwen3-tiny/', import.meta.url));
  const names = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
  return Object.fromEntries(names.map((n) => [n, new Uint8Array(readFileSync(dir + n))]));
}

/**
 * The same weights as a sharded checkpoint: `model-0000{i}-of-0000{n}.safetensors`, the tensors split in order by
 * bytes, and model.safetensors.index.json naming each tensor's shard (the layout transformers writes).
 */
export function shardSafetensors(file: Uint8Array, shards: number): Record<string, Uint8Array> {
  const headerLen = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLen))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = file.subarray(8 + headerLen);
  const names = Object.keys(header).filter((k) => k !== '__metadata__').sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
  const total = data.length;
  const out: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  const name = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
  let i = 0;
  while (i < names.length) {
    const s = Object.keys(out).length;
    const group: string[] = [];
    // Each shard takes tensors until it holds its share of the bytes (the last one takes the rest).
    for (let bytes = 0; i < names.length && (s === shards - 1 || bytes < total / shards || group.length === 0); i++) {
      const [a, b] = header[names[i]].data_offsets;
      group.push(names[i]);
      bytes += b - a;
    }
    const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let at = 0;
    for (const n of group) {
      const [a, b] = header[n].data_offsets;
      h[n] = { dtype: header[n].dtype, shape: header[n].shape, data_offsets: [at, at + b - a] };
      at += b - a;
      weightMap[n] = name(s);
    }
    let json = new TextEncoder().encode(JSON.stringify(h));
    const pad = (8 - (json.length % 8)) % 8;
    json = new TextEncoder().encode(JSON.stringify(h) + ' '.repeat(pad));
    const bytes = new Uint8Array(8 + json.length + at);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    let w = 8 + json.length;
    for (const n of group) {
      const [a, b] = header[n].data_offsets;
      bytes.set(data.subarray(a, b), w);
      w += b - a;
    }
    out[name(s)] = bytes;
  }
  if (Object.keys(out).length !== shards) throw new Error(`shardSafetensors: made ${Object.keys(out).length} shards, asked for ${shards}`);
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  out['model.safetensors.index.json'] = new TextEncoder().encode(JSON.stringify(index, null, 2));
  return out;
}

/** The bundled tiny model with its weights in `shards` shards and an index instead of model.safetensors. */
export function shardedTinyModel(shards = 2): Record<string, Uint8Array> {
  const { 'model.safetensors': weights, ...rest } = bundledTinyModel();
  return { ...rest, ...shardSafetensors(weights, shards) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const hub = await startMockHub({ 'tiny/qwen3-tiny': { files: bundledTinyModel() }, 'tiny/qwen3-tiny-sharded': { files: shardedTinyModel() } }, Number(process.argv[2] ?? 0));
  process.stdout.write(`mock hub at ${hub.url} (repos tiny/qwen3-tiny, tiny/qwen3-tiny-sharded)\n`);
}
