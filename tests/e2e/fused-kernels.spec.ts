// The fused WebGPU kernels (src/engine/kernels) against the op-by-op composition they replace: the checks of
// tests/matrix/kernel-checks.ts, one test per check, in one page of Debian's Chromium on WebGPU (SwiftShader here:
// correct and slow, so the shapes are small). Each test logs what it measured (errors, dispatch counts).
import { expect, test, type Page } from '@playwright/test';
import { KERNEL_CHECK_NAMES } from '../matrix/kernel-check-names.ts';
import { buildMatrixBundle, MATRIX_PATH } from '../matrix/browser-bundle.ts';
import type { KernelApi } from '../matrix/kernel-entry.ts';

declare global {
  var __kernels: KernelApi;
}

test.describe('fused kernels on webgpu', () => {
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
    await page.goto(`${MATRIX_PATH}kernels.html`);
    await page.waitForFunction(() => '__kernels' in globalThis, undefined, { timeout: 60_000 });
    const info = await page.evaluate(() => globalThis.__kernels.init());
    // setBackend('webgpu') can fail quietly; the checks must never run on another backend.
    expect(info.backend, `setBackend returned ${info.started}`).toBe('webgpu');
  });

  test.afterAll(async () => {
    await page?.close();
  });

  for (const name of KERNEL_CHECK_NAMES) {
    test(name, async () => {
      const r = await page.evaluate((n) => globalThis.__kernels.run(n), name);
      if (r.ok) console.log(`  ${name}: ${r.measured}`);
      expect(r.ok ? null : `${r.message}${errors.length ? `\npage errors: ${errors.join('; ')}` : ''}`).toBeNull();
    });
  }
});
