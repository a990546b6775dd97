/**
 * Import of a model repo from the Hugging Face Hub: resolve the revision to a commit and list its files
 * (@huggingface/hub modelInfo, listFiles), check config.json and the safetensors headers (names, shapes) with the
 * engine's folder rules before any weight is downloaded (ranged reads through downloadFile's Blob), then download
 * each file into the hub-downloads store in fixed-size chunks, resuming a file from its received bytes with an HTTP
 * Range request (its ETag from fileDownloadInfo must be unchanged, else it restarts). The resumed body is read with
 * fetch, not downloadFile: its Blob's stream() hides the response's status and Content-Range, so a server that
 * ignored the Range (200 with the whole file) would be appended after the received bytes unnoticed.
 * The finished files go to the daemon's importModel (the same checks and storage as a dropped folder).
 */
import { HubApiError, downloadFile, fileDownloadInfo, listFiles, modelInfo } from '@huggingface/hub';
import { INDEX_FILE, SINGLE_FILE, checkWeights, readModelConfig, readWeightFiles, type FolderReader } from '../../engine/checkpoint.ts';
import { HUB_CHUNK_BYTES, type HubDownloadFile, type HubDownloadRow, type HubDownloads } from '../../store/hub-downloads.ts';

export interface HubSource {
  hubUrl: string;
  repo: string;
  revision: string;
  /** A Hub token (`hf_…`) for gated or private repos; empty for none. */
  token: string;
}

export interface HubProgress {
  /** Bytes stored so far over all files, and the total. */
  done: number;
  total: number;
  files: { path: string; size: number; done: number }[];
  phase: 'listing' | 'checking' | 'downloading' | 'importing';
}

/** A failure the person can act on, in one sentence; `status` is the Hub's HTTP status when there was one. */
export class HubImportError extends Error {
  constructor(message: string, readonly status?: number, readonly file?: string) {
    super(message);
    this.name = 'HubImportError';
  }
}

export interface HubImportDeps {
  store: HubDownloads;
  /** Stores the downloaded folder as a model (the daemon's importModel); returns the model's name. */
  importFolder(files: { path: string; blob: Blob }[], name: string): Promise<string>;
  fetch?: typeof fetch;
  onProgress?(p: HubProgress): void;
  signal?: AbortSignal;
}

/** Files a model folder needs besides its weights, and files taken when the repo has them. */
export const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'] as const;
export const OPTIONAL_FILES = ['generation_config.json', 'regime3-codebook.json'] as const;

/**
 * fetch past the browser's HTTP cache: the weights are stored in chunks already (a cached copy would double a 1.5 GB
 * file on disk), a cached probe could give a stale ETag, and Chrome's cache rewrites an open-ended Range from its own
 * partial entries.
 */
export const hubFetch: typeof fetch = (input, init) => fetch(input, { ...init, cache: 'no-store' });

export const downloadId = (s: Pick<HubSource, 'hubUrl' | 'repo' | 'revision'>) => `${s.hubUrl}|${s.repo}|${s.revision}`;

/** Checks the repo id, revision and token before any request; an error sentence, or null. */
export function checkSource(s: HubSource): string | null {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(s.repo) || s.repo.includes('..')) return `"${s.repo}" is not a Hub repo id (owner/name, such as Qwen/Qwen3-0.6B)`;
  if (!s.revision.trim() || /\s/.test(s.revision)) return `"${s.revision}" is not a revision (a branch, tag or commit, such as main)`;
  if (s.token && !s.token.startsWith('hf_')) return 'a Hub token starts with hf_ (Settings → Access Tokens on the Hub)';
  return null;
}

/** The Hub's answer (HubApiError from the library, or a failed fetch) as one sentence naming the repo and file. */
export function explain(e: unknown, s: HubSource, gated: boolean, file?: string): HubImportError {
  if (e instanceof HubImportError) return e;
  const where = `${s.repo}${file ? ` (${file})` : ''} on ${s.hubUrl}`;
  if (e instanceof HubApiError) {
    const hub = e.message.split('. URL: ')[0];
    const status = e.statusCode;
    if (status === 401 || status === 403) {
      const what = gated || /gated|restricted/i.test(hub) ? 'is a gated repo' : 'needs authentication';
      const todo = s.token ? 'the token given was refused or has no access to it' : 'enter a Hub token (hf_…) of an account that was granted access';
      return new HubImportError(`${where}: HTTP ${status}: ${s.repo} ${what}; ${todo} (the Hub says: ${hub})`, status, file);
    }
    if (status === 404) return new HubImportError(`${where}: HTTP 404: not found — check the repo id and revision "${s.revision}" (the Hub says: ${hub})`, status, file);
    return new HubImportError(`${where}: HTTP ${status} (the Hub says: ${hub})`, status, file);
  }
  if (e instanceof DOMException && e.name === 'AbortError') return new HubImportError('the import was cancelled');
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof TypeError && /fetch|network|load failed/i.test(msg)) return new HubImportError(`could not reach ${s.hubUrl} for ${where} (${msg}): check the hub URL, the network, and that it answers this page's origin (CORS)`, undefined, file);
  return new HubImportError(`${where}: ${msg}`, undefined, file);
}

/** Repo files behind the engine's FolderReader: whole reads and ranged reads through downloadFile's lazy Blob. */
function hubFolder(s: HubSource, sha: string, listing: ReadonlyMap<string, number>, fetchFn: typeof fetch): FolderReader {
  const blobs = new Map<string, Promise<Blob | null>>();
  const blob = async (path: string) => {
    let b = blobs.get(path);
    if (!b) blobs.set(path, (b = downloadFile({ repo: s.repo, path, revision: sha, hubUrl: s.hubUrl, accessToken: s.token || undefined, fetch: fetchFn, xet: false })));
    const got = await b;
    if (!got) throw new HubImportError(`${s.repo} lists ${path} but the Hub has no such file (HTTP 404)`, 404, path);
    return got;
  };
  return {
    read: async (path) => (listing.has(path) ? new Uint8Array(await (await blob(path)).arrayBuffer()) : null),
    size: async (path) => listing.get(path) ?? null,
    readRange: async (path, start, end) => new Uint8Array(await (await blob(path)).slice(start, end).arrayBuffer()),
  };
}

/**
 * Resolves the revision to a commit, lists the repo, picks the model folder's files (weights: model.safetensors, or
 * the index and every shard it names) and checks config.json and the weights' headers against each other, reading
 * only those bytes. Returns the download's row (not yet stored). Errors are HubImportErrors naming repo and file.
 */
export async function planDownload(s: HubSource, fetchFn: typeof fetch = hubFetch, onPhase?: (p: HubProgress['phase']) => void): Promise<HubDownloadRow> {
  const bad = checkSource(s);
  if (bad) throw new HubImportError(bad);
  const accessToken = s.token || undefined;
  let gated = false;
  let file: string | undefined;
  try {
    onPhase?.('listing');
    const info = await modelInfo({ name: s.repo, revision: s.revision, hubUrl: s.hubUrl, accessToken, fetch: fetchFn, additionalFields: ['sha'] });
    gated = Boolean(info.gated);
    const sha = info.sha;
    if (!sha) throw new HubImportError(`${s.repo} on ${s.hubUrl}: the Hub gave no commit for revision "${s.revision}"`);
    const listing = new Map<string, number>();
    for await (const f of listFiles({ repo: s.repo, revision: sha, hubUrl: s.hubUrl, accessToken, fetch: fetchFn })) {
      if (f.type === 'file') listing.set(f.path, f.lfs?.size ?? f.size);
    }
    const all = [...listing.keys()].sort().join(', ') || 'none';
    for (const f of REQUIRED_FILES) if (!listing.has(f)) throw new HubImportError(`${s.repo} has no ${f}, so it is not a model folder this page can train (files: ${all})`, undefined, f);
    if (!listing.has(INDEX_FILE) && !listing.has(SINGLE_FILE)) throw new HubImportError(`${s.repo} has neither ${SINGLE_FILE} nor ${INDEX_FILE} (files: ${all})`, undefined, SINGLE_FILE);

    onPhase?.('checking');
    const folder = hubFolder(s, sha, listing, fetchFn);
    file = 'config.json';
    const config = await readModelConfig(folder);
    file = listing.has(INDEX_FILE) ? INDEX_FILE : SINGLE_FILE;
    const weights = await readWeightFiles(folder);
    checkWeights(weights, config);
    file = undefined;
    const paths = [...REQUIRED_FILES, ...OPTIONAL_FILES.filter((f) => listing.has(f)), ...(listing.has(INDEX_FILE) ? [INDEX_FILE] : []), ...weights.map((w) => w.file)];
    const files: HubDownloadFile[] = paths.map((path) => ({ path, size: listing.get(path)! }));
    return { id: downloadId(s), hubUrl: s.hubUrl, repo: s.repo, revision: s.revision, sha, files, gated, createdAt: Date.now() };
  } catch (e) {
    throw explain(e, s, gated, e instanceof HubImportError ? e.file : ((e as { file?: string }).file ?? file));
  }
}

/** An error sentence from a failed fetch of a file's bytes (the Hub's JSON `error` when it sent one). */
async function responseError(res: Response, s: HubSource, gated: boolean, path: string): Promise<HubImportError> {
  let hub = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.text();
    hub = (JSON.parse(body) as { error?: string }).error ?? (body.slice(0, 200) || hub);
  } catch {
    /* no body */
  }
  const e = new HubApiError(res.url, res.status, undefined, hub);
  return explain(e, s, gated, path);
}

/** A view of `pieces` taking exactly `n` bytes off their front (the caller made sure there are at least n). */
function take(pieces: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  while (n > 0) {
    const p = pieces[0];
    if (p.length <= n) {
      out.push(p);
      pieces.shift();
      n -= p.length;
    } else {
      out.push(p.subarray(0, n));
      pieces[0] = p.subarray(n);
      n = 0;
    }
  }
  return out;
}

/**
 * Downloads every file of `row` that is not whole in the store yet, each from its received bytes on (Range), in
 * chunks of HUB_CHUNK_BYTES stored as they complete; returns the files as Blobs made of their chunks.
 */
export async function downloadFiles(row: HubDownloadRow, token: string, deps: HubImportDeps): Promise<{ path: string; blob: Blob }[]> {
  const { store, signal } = deps;
  const fetchFn = deps.fetch ?? hubFetch;
  const s: HubSource = { hubUrl: row.hubUrl, repo: row.repo, revision: row.revision, token };
  const done = new Map<string, number>();
  for (const f of row.files) done.set(f.path, await store.received(row.id, f.path));
  const total = row.files.reduce((a, f) => a + f.size, 0);
  const report = () =>
    deps.onProgress?.({ phase: 'downloading', total, done: [...done.values()].reduce((a, b) => a + b, 0), files: row.files.map((f) => ({ path: f.path, size: f.size, done: done.get(f.path) ?? 0 })) });
  report();
  for (const f of row.files) {
    signal?.throwIfAborted();
    let info;
    try {
      info = await fileDownloadInfo({ repo: row.repo, path: f.path, revision: row.sha, hubUrl: row.hubUrl, accessToken: token || undefined, fetch: fetchFn });
    } catch (e) {
      throw explain(e, s, row.gated, f.path);
    }
    if (!info) throw new HubImportError(`${row.repo} at ${row.sha.slice(0, 7)} no longer has ${f.path} (HTTP 404)`, 404, f.path);
    let offset = done.get(f.path)!;
    let index = await store.chunkCount(row.id, f.path);
    const whole = index * HUB_CHUNK_BYTES;
    // A changed file (other ETag or size) or received bytes that do not fit the chunking start over.
    if (info.etag !== f.etag || info.size !== f.size || offset > info.size || (offset < info.size && offset !== whole)) {
      if (offset > 0) await store.clearFile(row.id, f.path);
      offset = 0;
      index = 0;
      f.etag = info.etag;
      f.size = info.size;
      await store.put(row);
      done.set(f.path, 0);
      report();
    }
    if (offset === f.size) continue;
    const res = await fetchFn(info.url, { headers: { Range: `bytes=${offset}-`, ...(token ? { Authorization: `Bearer ${token}` } : {}) }, signal }).catch((e) => {
      throw explain(e, s, row.gated, f.path);
    });
    if (res.status === 206) {
      const start = Number(/^bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '')?.[1]);
      if (start !== offset) throw new HubImportError(`${f.path}: asked for its bytes from ${offset} on, the server sent them from ${res.headers.get('Content-Range') ?? 'an unknown offset'}`, 206, f.path);
    } else if (res.status === 200) {
      if (offset > 0) await store.clearFile(row.id, f.path); // the Range was ignored: the whole file came
      offset = 0;
      index = 0;
    } else {
      throw await responseError(res, s, row.gated, f.path);
    }
    const pieces: Uint8Array[] = [];
    let pending = 0;
    const flush = async (n: number) => {
      await store.addChunk({ downloadId: row.id, path: f.path, index: index++, bytes: n, blob: new Blob(take(pieces, n) as BlobPart[]) });
      pending -= n;
      offset += n;
      done.set(f.path, offset);
      report();
    };
    const reader = res.body!.getReader();
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        pieces.push(value);
        pending += value.length;
        if (offset + pending > f.size) throw new HubImportError(`${f.path}: the server sent more than its ${f.size} bytes`, res.status, f.path);
        while (pending >= HUB_CHUNK_BYTES) await flush(HUB_CHUNK_BYTES);
      }
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      throw explain(e, s, row.gated, f.path);
    }
    if (pending > 0) await flush(pending);
    if (offset !== f.size) throw new HubImportError(`${f.path}: the download ended at byte ${offset} of ${f.size}; import again to resume`, res.status, f.path);
  }
  const out: { path: string; blob: Blob }[] = [];
  for (const f of row.files) {
    const blob = await store.fileBlob(row.id, f.path);
    if (blob.size !== f.size) throw new HubImportError(`${f.path}: ${blob.size} bytes stored, ${f.size} expected`, undefined, f.path);
    out.push({ path: f.path, blob });
  }
  return out;
}

/** The model's name: the repo, with the revision unless it is main. */
export const modelName = (row: Pick<HubDownloadRow, 'repo' | 'revision'>) => (row.revision === 'main' ? row.repo : `${row.repo}@${row.revision}`);

/**
 * Downloads `row` (a new one from planDownload, or one left by an earlier visit) and imports it; the stored
 * download is removed once the model is stored. Returns the model's name.
 */
export async function runDownload(row: HubDownloadRow, token: string, deps: HubImportDeps): Promise<string> {
  if (!(await deps.store.get(row.id))) await deps.store.put(row);
  const files = await downloadFiles(row, token, deps);
  const total = row.files.reduce((a, f) => a + f.size, 0);
  deps.onProgress?.({ phase: 'importing', done: total, total, files: row.files.map((f) => ({ path: f.path, size: f.size, done: f.size })) });
  const name = await deps.importFolder(files, modelName(row));
  await deps.store.remove(row.id);
  return name;
}

/**
 * Imports `s`: plans it (listing, checks), carries over what an earlier download of the same repo and revision
 * received (a file whose ETag is unchanged resumes; a changed one restarts; one no longer needed is dropped), then
 * downloads and imports. Returns the model's name.
 */
export async function importFromHub(s: HubSource, deps: HubImportDeps): Promise<string> {
  const phase = (p: HubProgress['phase']) => deps.onProgress?.({ phase: p, done: 0, total: 0, files: [] });
  const row = await planDownload(s, deps.fetch ?? hubFetch, phase);
  const old = await deps.store.get(row.id);
  if (old) {
    const etags = new Map(old.files.map((f) => [f.path, f.etag]));
    for (const f of row.files) f.etag = etags.get(f.path);
    for (const f of old.files) if (!row.files.some((x) => x.path === f.path)) await deps.store.clearFile(row.id, f.path);
    row.createdAt = old.createdAt;
  }
  await deps.store.put(row);
  return runDownload(row, s.token, deps);
}
