// The fused attention (src/engine/kernels/attention.ts) against the composed ops it replaces: the checks of
// tests/matrix/attention-checks.ts, one test per check, in one page of Debian's Chromium on WebGPU (SwiftShader here:
// correct and slow, so the shapes are small). Each test logs what it measured (largest differences, dispatch counts).
import { expect, test, type Page } from '@playwright/test';
import { ATTENTION_CHECK_NAMES } from '../matrix/attention-check-names.ts';
import { buildMatrixBundle, MATRIX_PATH } from '../matrix/browser-bundle.ts';
import type { AttentionApi } from '../matrix/attention-entry.ts';

declare global {
  var __attention: AttentionApi;
}

test.describe('fused attention on webgpu', () => {
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
    await page.goto(`${MATRIX_PATH}attention.html`);
    await page.waitForFunction(() => '__attention' in globalThis, undefined, { timeout: 60_000 });
    const info = await page.evaluate(() => globalThis.__attention.init());
    // setBackend('webgpu') can fail quietly; the checks must never run on another backend.
    expect(info.backend, `setBackend returned ${info.started}`).toBe('webgpu');
  });

  test.afterAll(async () => {
    await page?.close();
  });

  for (const name of ATTENTION_CHECK_NAMES) {
    test(name, async () => {
      const r = await page.evaluate((n) => globalThis.__attention.run(n), name);
      if (r.ok) console.log(`  ${name}: ${r.measured}`);
      expect(r.ok ? null : `${r.message}${errors.length ? `\npage errors: ${errors.join('; ')}` : ''}`).toBeNull();
    });
  }
});
