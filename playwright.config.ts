// Browser tests: Debian's Chromium (never a downloaded browser) against the production build served by
// `vite preview` on a fixed port, one worker (2 cores), a fresh browser context per test file.
import { defineConfig } from '@playwright/test';

// E2E_PORT lets a second checkout run its suite beside this one.
export const PORT = Number(process.env.E2E_PORT ?? 4174);

export default defineConfig({
  testDir: 'tests/e2e',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  outputDir: '/tmp/workbench-e2e-results',
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-dev-shm-usage',
        '--enable-unsafe-webgpu',
      ],
    },
    trace: 'off',
    screenshot: { mode: 'only-on-failure', fullPage: true },
  },
  webServer: {
    // Build once, then serve the production build (no dev-server re-optimisation).
    command: `npx vite build --logLevel warn && npx vite preview --port ${PORT} --strictPort --host 127.0.0.1`,
    url: `http://127.0.0.1:${PORT}/`,
    // Always build and serve this tree (a leftover server could be an older build).
    reuseExistingServer: false,
    timeout: 240_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
