// The service worker's update suite (`npm run test:pwa`): builds the workbench once and serves builds from its own
// static server (tests/pwa/static-server.ts) so a test can deploy a new build at the same origin. Chromium flags,
// reporter and timeouts as the e2e tests; no webServer.
import { defineConfig } from '@playwright/test';
import base from '../../playwright.config.ts';

// E2E_PORT as in playwright.config.ts; the default differs so the suite can run beside the e2e and fault suites.
export const PORT = Number(process.env.E2E_PORT ?? 4177);

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: /.*\.spec\.ts$/,
  timeout: 10 * 60_000,
  outputDir: '/tmp/workbench-pwa-results',
  use: { ...base.use, baseURL: `http://127.0.0.1:${PORT}` },
  webServer: undefined,
});
