// The fault-injection suite (`npm run test:faults`, scripts/test-faults.mjs): Debian's Chromium with the e2e flags,
// against the production build served by `vite preview`, one worker, a fresh on-disk profile per scenario (the
// `context` fixture in harness.ts), long timeouts (each scenario trains a queue, some twice).
import { defineConfig } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import base from '../../playwright.config.ts';

// E2E_PORT as in playwright.config.ts; the default differs so the suite can run beside the e2e tests.
export const PORT = Number(process.env.E2E_PORT ?? 4175);

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: /.*\.spec\.ts$/,
  timeout: 15 * 60_000,
  outputDir: '/tmp/workbench-faults-results',
  use: { ...base.use, baseURL: `http://127.0.0.1:${PORT}` },
  webServer: {
    ...(Array.isArray(base.webServer) ? base.webServer[0] : base.webServer!),
    command: `npx vite build --logLevel warn && npx vite preview --port ${PORT} --strictPort --host 127.0.0.1`,
    url: `http://127.0.0.1:${PORT}/`,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  },
});
