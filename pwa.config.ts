// The workbench as an installable app that works offline (issue 16): vite-plugin-pwa builds src/sw.ts (Workbox,
// injectManifest) with the precache manifest of the build — app shell, workers, chunks and TF.js's wasm binaries; the
// model folders under public/models are left out (the service worker caches them at run time) — and writes the web
// manifest. The page registers the worker itself (src/ui/lib/service-worker.ts); a new build waits for the prompt.
import { VitePWA } from 'vite-plugin-pwa';
import type { PluginOption } from 'vite';

export function workbenchPwa(): PluginOption {
  return VitePWA({
    strategies: 'injectManifest',
    srcDir: 'src',
    filename: 'sw.ts',
    registerType: 'prompt',
    injectRegister: false,
    // No service worker on the dev server (it would serve stale modules across edits).
    devOptions: { enabled: false },
    injectManifest: {
      globPatterns: ['**/*.{js,css,html,wasm,svg,png,webmanifest}'],
      globIgnores: ['models/**'],
      // The trainer worker's chunk (TF.js and its backends) is larger than Workbox's 2 MiB default.
      maximumFileSizeToCacheInBytes: 16 * 1024 * 1024,
      rollupFormat: 'iife',
    },
    includeManifestIcons: false,
    manifest: {
      name: 'Training Workbench',
      short_name: 'Workbench',
      description: 'Fine-tune Qwen3-family language models in the browser, file after file.',
      start_url: '/',
      scope: '/',
      display: 'standalone',
      background_color: '#ffffff',
      theme_color: '#1f4fa3',
      icons: [
        { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
        { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
        { src: '/favicon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
      ],
    },
  });
}
