/**
 * The service worker (issue 16): after one visit the page works offline. Workbox precaches the build (app shell,
 * workers, chunks, TF.js's wasm binaries); any navigation to `/` is the precached page whatever its query
 * (`?backend=`, `?test-hooks=1`); model folders under /models/ are cached at run time as whole files, and HTTP Range
 * reads are answered from them (a missing file stays a 404, offline too). Cached responses keep the headers the
 * server sent (COOP/COEP/CORP), so the page and its workers stay cross-origin isolated offline (wasm threads, OPFS).
 * A new build waits until the page asks it to take over (the update prompt). Nothing else is intercepted.
 */
/// <reference lib="webworker" />
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: (string | { url: string; revision: string | null })[] };
/** The build's files with their revisions (Workbox's injection point: it must appear once). */
const MANIFEST = self.__WB_MANIFEST;

/** Model files cached at run time; a new build starts it afresh (old builds' caches are deleted on activation). */
const MODEL_CACHE = `workbench-models-${hashManifest()}`;
const MODEL_PREFIX = '/models/';
/** The files of a Hugging Face folder the workbench reads (a sharded index also names its shards). */
const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', 'model.safetensors'];

/** Messages the page sends: warm the cache with a model folder; the waiting new build takes over. */
export type SwMessage = { type: 'cache-model'; ref: string } | { type: 'SKIP_WAITING' };

precacheAndRoute(MANIFEST);
cleanupOutdatedCaches();
registerRoute(new NavigationRoute(createHandlerBoundToURL('index.html'), { allowlist: [/^\/(index\.html)?(\?.*)?$/] }));
registerRoute(
  ({ url, request }) => url.origin === self.location.origin && url.pathname.startsWith(MODEL_PREFIX) && request.method === 'GET',
  ({ request }) => serveModelFile(request),
);

self.addEventListener('activate', (e) => {
  e.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k.startsWith('workbench-models-') && k !== MODEL_CACHE).map((k) => caches.delete(k)))),
  );
});

self.addEventListener('message', (e: ExtendableMessageEvent) => {
  const m = e.data as SwMessage | undefined;
  if (m?.type === 'SKIP_WAITING') void self.skipWaiting();
  else if (m?.type === 'cache-model' && typeof m.ref === 'string' && m.ref.startsWith(MODEL_PREFIX)) {
    // Answers on the message's port (workbox-window's messageSW) once the folder is cached, or why not.
    const reply = (r: { ok: boolean; error?: string }) => e.ports[0]?.postMessage(r);
    e.waitUntil(warmModel(m.ref).then(() => reply({ ok: true }), (err: unknown) => reply({ ok: false, error: String((err as Error)?.message ?? err) })));
  }
});

/** A short digest of the precache manifest's revisions: the build's identity. */
function hashManifest(): string {
  let h = 0;
  for (const e of MANIFEST) for (const c of typeof e === 'string' ? e : `${e.url}${e.revision}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return (h >>> 0).toString(36);
}

/** Whole-file fetches in flight, so concurrent range reads of one file download it once. */
const inFlight = new Map<string, Promise<Response | null>>();

/**
 * The whole file as a 200, or its 404, from the cache; else fetched whole (no Range) once and cached. Other statuses
 * and network errors are not cached (offline, an uncached file is a network error, as without a service worker).
 */
async function wholeFile(url: string): Promise<Response> {
  const cache = await caches.open(MODEL_CACHE);
  const hit = await cache.match(url);
  if (hit) return hit;
  let p = inFlight.get(url);
  if (!p) {
    p = (async () => {
      const res = await fetch(url, { cache: 'no-store' });
      if (res.status !== 200 && res.status !== 404) return res;
      await cache.put(url, res);
      return null;
    })().finally(() => inFlight.delete(url));
    inFlight.set(url, p);
  }
  const uncached = await p;
  if (uncached) return uncached.clone();
  return (await cache.match(url)) ?? fetch(url);
}

/** A model file, or the part of it a `Range: bytes=a-b` header asks for (206, from the cached whole file). */
async function serveModelFile(request: Request): Promise<Response> {
  const url = request.url.split('#')[0];
  const whole = await wholeFile(url);
  const range = request.headers.get('Range');
  if (!range || whole.status !== 200) return whole;
  const blob = await whole.blob();
  const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
  const start = m ? Number(m[1]) : NaN;
  const end = m && m[2] ? Math.min(Number(m[2]), blob.size - 1) : blob.size - 1;
  const headers = new Headers(whole.headers);
  if (!m || start >= blob.size || end < start) {
    headers.set('Content-Range', `bytes */${blob.size}`);
    return new Response(null, { status: 416, statusText: 'Range Not Satisfiable', headers });
  }
  headers.set('Content-Range', `bytes ${start}-${end}/${blob.size}`);
  headers.set('Content-Length', String(end - start + 1));
  return new Response(blob.slice(start, end + 1), { status: 206, statusText: 'Partial Content', headers });
}

/** Caches a model folder's files (and a sharded index's shards) so it loads offline; missing ones are kept as 404s. */
async function warmModel(ref: string): Promise<void> {
  const base = new URL(ref.endsWith('/') ? ref : `${ref}/`, self.location.origin).href;
  const names = new Set(MODEL_FILES);
  for (const name of MODEL_FILES) {
    const res = await wholeFile(base + name);
    if (name === 'model.safetensors.index.json' && res?.status === 200) {
      const index = (await res.json().catch(() => ({}))) as { weight_map?: Record<string, string> };
      for (const shard of new Set(Object.values(index.weight_map ?? {}))) if (!names.has(shard)) names.add(shard), await (await wholeFile(base + shard)).body?.cancel();
    } else await res?.body?.cancel();
  }
}
