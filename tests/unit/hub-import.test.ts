// Hub import against the local mock hub (tests/hub/mock-hub.ts, a real HTTP server): listing and header checks,
// sharded checkpoints, a download cut off mid-file resuming with a Range from its stored bytes, a changed file
// (other ETag) restarting while unchanged ones are kept, gated and missing repos, and the Hub token never backed up.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledTinyModel, shardedTinyModel, startMockHub, type MockHub } from '../hub/mock-hub.ts';
import { HubDownloads, HubDownloadsDb, HUB_CHUNK_BYTES } from '../../src/store/hub-downloads.ts';
import { downloadId, HubImportError, importFromHub, planDownload, type HubProgress, type HubSource } from '../../src/ui/lib/hub-import.ts';
import { backupWorkspace } from '../../src/store/backup.ts';
import { hubFromSearch, saveHubToken, saveHubUrl } from '../../src/ui/lib/hub-settings.ts';
import { scratchDbs } from './scratch-db.ts';

const TOKEN = 'hf_unit_test_token';
let hub: MockHub;
const tiny = bundledTinyModel();
const newDb = scratchDbs('hub-import');
let n = 0;
const stores = () => new HubDownloads(new HubDownloadsDb(`hub-downloads-${n++}-${Date.now()}`));
const src = (repo: string, token = ''): HubSource => ({ hubUrl: hub.url, repo, revision: 'main', token });
const bodyGets = (file: string) => hub.requests.filter((r) => r.file === file && r.method === 'GET' && r.range !== 'bytes=0-0' && !/^bytes=\d+-\d+$/.test(r.range ?? ''));

beforeAll(async () => {
  hub = await startMockHub({
    'tiny/single': { files: tiny },
    'tiny/sharded': { files: shardedTinyModel(2) },
    'tiny/gated': { files: tiny, gatedToken: TOKEN },
    'tiny/no-weights': { files: { 'config.json': tiny['config.json'], 'tokenizer.json': tiny['tokenizer.json'], 'tokenizer_config.json': tiny['tokenizer_config.json'] } },
  });
});
afterAll(() => hub?.close());

describe('hub import', () => {
  it('plans a single-file and a sharded repo from the listing and the headers, pinned to the commit', async () => {
    const one = await planDownload(src('tiny/single'));
    expect(one.sha).toBe(hub.sha('tiny/single'));
    expect(one.files.map((f) => f.path)).toEqual(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'model.safetensors']);
    expect(one.files.at(-1)!.size).toBe(tiny['model.safetensors'].length);
    const sharded = await planDownload(src('tiny/sharded'));
    expect(sharded.files.map((f) => f.path).slice(-3)).toEqual(['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    // Only headers were read: no weights file was fetched whole.
    expect(hub.requests.filter((r) => /safetensors$/.test(r.file ?? '') && r.method === 'GET').every((r) => /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
  });

  it('names the 401 of a gated repo without a token, a missing repo (404) and a repo without weights', async () => {
    const gated = await planDownload(src('tiny/gated')).catch((e: unknown) => e);
    expect(gated).toBeInstanceOf(HubImportError);
    expect((gated as HubImportError).status).toBe(401);
    expect(String((gated as Error).message)).toMatch(/HTTP 401.*gated repo.*enter a Hub token/);
    await expect(planDownload(src('tiny/gated', 'hf_wrong'))).rejects.toThrow(/HTTP 401.*token given was refused/);
    await expect(planDownload(src('tiny/absent'))).rejects.toThrow(/HTTP 404.*not found/);
    await expect(planDownload({ ...src('tiny/single'), revision: 'nope' })).rejects.toThrow(/HTTP 404/);
    await expect(planDownload(src('tiny/no-weights'))).rejects.toThrow(/neither model.safetensors nor model.safetensors.index.json/);
    await expect(planDownload(src('not a repo'))).rejects.toThrow(/not a Hub repo id/);
    await expect(planDownload(src('tiny/single', 'abc'))).rejects.toThrow(/starts with hf_/);
    expect(hubFromSearch('?hub=ftp://x').error).toMatch(/not an http\(s\) URL/);
    expect(hubFromSearch(`?hub=${encodeURIComponent('http://127.0.0.1:9/')}`).url).toBe('http://127.0.0.1:9');
  });

  it('resumes a download cut off mid-file with a Range from its stored bytes, keeps unchanged files, restarts a changed one; the files come back whole', async () => {
    const store = stores();
    const source = src('tiny/gated', TOKEN);
    const at = 2 * HUB_CHUNK_BYTES;
    hub.throttle({ repo: 'tiny/gated', path: 'model.safetensors', afterBytes: at, bytesPerSec: 0 });
    const stop = new AbortController();
    const seen: HubProgress[] = [];
    const first = importFromHub(source, {
      store, signal: stop.signal, importFolder: async () => 'never',
      onProgress: (p) => {
        seen.push(p);
        if ((p.files.find((f) => f.path === 'model.safetensors')?.done ?? 0) >= at) stop.abort();
      },
    });
    await expect(first).rejects.toThrow(/cancelled/);
    hub.throttle(null);
    expect(await store.received(downloadId(source), 'model.safetensors')).toBe(at);
    expect(seen.at(-1)!.done).toBe(at + ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'].reduce((a, f) => a + tiny[f].length, 0));

    // A new commit changes tokenizer_config.json: it is fetched again, the weights resume from byte `at`.
    const changed = new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(tiny['tokenizer_config.json'])), model_max_length: 4096 }));
    hub.setFile('tiny/gated', 'tokenizer_config.json', changed);
    const before = hub.requests.length;
    let got: { path: string; blob: Blob }[] = [];
    const name = await importFromHub(source, { store, importFolder: async (files, nm) => ((got = files), nm) });
    const second = hub.requests.slice(before);
    expect(name).toBe('tiny/gated');
    const weights = second.filter((r) => r.file === 'model.safetensors' && r.method === 'GET' && r.range?.endsWith('-'));
    expect(weights.map((r) => r.range)).toEqual([`bytes=${at}-`]);
    expect(second.some((r) => r.file === 'tokenizer_config.json' && r.range === 'bytes=0-')).toBe(true);
    expect(second.some((r) => r.file === 'tokenizer.json' && r.range?.endsWith('-') && r.range !== 'bytes=0-0')).toBe(false);
    expect(second.every((r) => r.token === TOKEN)).toBe(true);

    const file = (p: string) => got.find((f) => f.path === p)!.blob;
    expect(Buffer.from(await file('model.safetensors').arrayBuffer()).equals(Buffer.from(tiny['model.safetensors']))).toBe(true);
    expect(await file('tokenizer_config.json').text()).toContain('4096');
    expect(got.map((f) => f.path).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(await store.list()).toEqual([]); // the finished download is gone from the download store
    expect(await store.db.chunks.count()).toBe(0);
  });

  it('restarts a partly received file whose ETag changed (Range from 0)', async () => {
    const store = stores();
    const source = src('tiny/single');
    hub.throttle({ repo: 'tiny/single', path: 'model.safetensors', afterBytes: HUB_CHUNK_BYTES, bytesPerSec: 0 });
    const stop = new AbortController();
    const cut = importFromHub(source, { store, signal: stop.signal, importFolder: async () => 'never', onProgress: (p) => void ((p.files.at(-1)?.done ?? 0) >= HUB_CHUNK_BYTES && stop.abort()) });
    await expect(cut).rejects.toThrow(/cancelled/);
    hub.throttle(null);
    const w = tiny['model.safetensors'].slice();
    w[w.length - 1] ^= 0xff; // same header, other bytes: a new commit of the weights
    hub.setFile('tiny/single', 'model.safetensors', w);
    const before = hub.requests.length;
    let blob: Blob | undefined;
    await importFromHub(source, { store, importFolder: async (files) => ((blob = files.find((f) => f.path === 'model.safetensors')!.blob), 'ok') });
    expect(bodyGets('model.safetensors').filter((r) => hub.requests.indexOf(r) >= before).map((r) => r.range)).toEqual(['bytes=0-']);
    expect(Buffer.from(await blob!.arrayBuffer()).equals(Buffer.from(w))).toBe(true);
  });

  it('the mock hub answers as the Hub does: HEAD with a redirect and X-Linked-Size, ranges, CORS preflight and CORP', async () => {
    const resolve = `${hub.url}/tiny/single/resolve/main/model.safetensors`;
    const head = await fetch(resolve, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(302);
    expect(Number(head.headers.get('X-Linked-Size'))).toBe(tiny['model.safetensors'].length);
    expect(head.headers.get('X-Linked-ETag')).toBe(head.headers.get('ETag'));
    expect(head.headers.get('Location')).toMatch(/^\/cdn\//);
    const part = await fetch(resolve, { headers: { Range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('Content-Range')).toBe(`bytes 10-19/${tiny['model.safetensors'].length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(tiny['model.safetensors'].subarray(10, 20)))).toBe(true);
    const small = await fetch(`${hub.url}/tiny/single/resolve/main/config.json`, { method: 'HEAD', redirect: 'manual' });
    expect(small.status).toBe(200);
    expect(small.headers.get('Cross-Origin-Resource-Policy')).toBe('cross-origin');
    const pre = await fetch(resolve, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:1', 'Access-Control-Request-Headers': 'authorization,range' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('Access-Control-Allow-Headers')).toMatch(/Authorization.*Range/);
    expect(pre.headers.get('Access-Control-Expose-Headers')).toMatch(/X-Linked-Size/);
    expect((await fetch(`${hub.url}/tiny/single/resolve/main/nope.bin`)).headers.get('X-Error-Code')).toBe('EntryNotFound');
    expect((await fetch(`${hub.url}/api/models/tiny/none`)).status).toBe(404);
  });

  it('keeps the Hub token out of backups (the hub URL is backed up)', async () => {
    const db = newDb();
    await saveHubUrl(db, 'http://127.0.0.1:1234/');
    await saveHubToken(db, 'hf_BACKUP_CANARY_TOKEN');
    const { blob } = await backupWorkspace(db);
    const text = Buffer.from(await blob.arrayBuffer()).toString('latin1');
    expect(text).toContain('http://127.0.0.1:1234');
    expect(text).not.toContain('hf_BACKUP_CANARY_TOKEN');
  });
});
