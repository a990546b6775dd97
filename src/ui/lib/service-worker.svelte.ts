/**
 * The page's side of the service worker (src/sw.ts, built by pwa.config.ts): registers it (workbox-window), asks it
 * to cache the bundled model folder so the page trains offline after one visit, and holds whether a new build is
 * waiting (the update prompt) or the page is ready offline. A new build never takes over by itself: `applyUpdate()`
 * (the prompt's button) lets it, and the page reloads into it once it controls the page.
 */
import { Workbox } from 'workbox-window';

/** How often an open page asks the server whether a new build was deployed (besides every navigation). */
const UPDATE_CHECK_MS = 10 * 60_000;
export const SW_URL = '/sw.js';

class ServiceWorkerState {
  /** A new build is installed and waiting for the person to reload into it. */
  needRefresh = $state(false);
  /** The build is cached: the page loads without the network from now on. */
  offlineReady = $state(false);
  /** Why the service worker could not be registered (the page works, online only). */
  error = $state<string | null>(null);
}

export const serviceWorker = new ServiceWorkerState();
let wb: Workbox | undefined;

/** Registers the service worker (not on the dev server, which has none) and warms the model folders' cache. */
export function startServiceWorker(modelRefs: readonly string[]): void {
  if (import.meta.env.DEV || !('serviceWorker' in navigator)) return;
  wb = new Workbox(SW_URL, { scope: '/' });
  wb.addEventListener('waiting', () => (serviceWorker.needRefresh = true));
  const w = wb;
  w.register({ immediate: true })
    .then(async (registration) => {
      if (!registration) return;
      setInterval(() => void registration.update().catch(() => undefined), UPDATE_CHECK_MS);
      await navigator.serviceWorker.ready;
      // Offline-ready once the active worker has the build and every model folder cached.
      const replies = (await Promise.all(modelRefs.map((ref) => w.messageSW({ type: 'cache-model', ref })))) as { ok: boolean; error?: string }[];
      const failed = replies.find((r) => !r?.ok);
      if (failed) serviceWorker.error = `the model could not be cached for offline use: ${failed.error ?? 'no answer'}`;
      else serviceWorker.offlineReady = true;
    })
    .catch((e: unknown) => (serviceWorker.error = `the offline cache is off: ${(e as Error)?.message ?? String(e)}`));
}

/** Lets the waiting build take over; the page reloads into it once it controls the page. */
export function applyUpdate(): void {
  if (!wb) return;
  wb.addEventListener('controlling', () => location.reload());
  wb.messageSkipWaiting();
}
