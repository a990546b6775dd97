// The webgpu column of the engine's backend matrix: the core checks of tests/matrix/core-checks.ts (the same code the
// cpu and wasm columns run in tests/unit/backend-matrix.test.ts), one test per check, in one page of Debian's
// Chromium on WebGPU (SwiftShader here: slow, so the checks use tiny shapes; correctness, not speed).
import { expect, test, type Page } from '@playwright/test';
import { CHECK_NAMES } from '../matrix/check-names.ts';
import { buildMatrixBundle, MATRIX_PATH } from '../matrix/browser-bundle.ts';
import type { MatrixApi } from '../matrix/browser-entry.ts';

declare global {
  var __matrix: MatrixApi;
}

test.describe('webgpu', () => {
  let page: Page;
  const errors: string[] = [];

  test.beforeAll(async ({ browser }) => {
    test.setTimeout(240_000);
    const bundle = await buildMatrixBundle();
    page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.route(`**${MATRIX_PATH}**`, (route) => {
      const r = bundle.respond(new URL(route.request().url()).pathname);
      return r ? route.fulfill(r) : route.fulfill({ status: 404, body: 'not found' });
    });
    await page.goto(`${MATRIX_PATH}index.html`);
    await page.waitForFunction(() => '__matrix' in globalThis, undefined, { timeout: 60_000 });
    const info = await page.evaluate(() => globalThis.__matrix.init());
    // setBackend('webgpu') can fail quietly; the checks must never run on another backend.
    expect(info.backend, `WebGPU adapter: ${info.adapter}; setBackend returned ${info.started}`).toBe('webgpu');
    console.log(`backend matrix: webgpu on ${info.adapter}`);
  });

  test.afterAll(async () => {
    await page?.close();
  });

  for (const name of CHECK_NAMES) {
    test(name, async () => {
      const r = await page.evaluate((n) => globalThis.__matrix.run(n), name);
      expect(r.ok ? null : `${r.message}${errors.length ? `\npage errors: ${errors.join('; ')}` : ''}`).toBeNull();
    });
  }
});
