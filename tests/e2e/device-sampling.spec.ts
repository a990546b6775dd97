// On webgpu in Chromium (SwiftShader here), what the unit tests check on cpu and wasm: selectToken picks what the host
// sampler picks (greedy, top-k, top-p, temperature; the full Qwen3 vocabulary too), generate()'s device path gives the
// host path's tokens, and padding a batch to its sequence-length bucket changes neither the loss nor a gradient.
// The page is device-sampling-page.ts, bundled by bench/page-server.ts and served on its own 127.0.0.1 port.
import { expect, test, type Page } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { servePage, type PageServer } from '../../bench/page-server.ts';
import type { SamplingApi } from './device-sampling-page.ts';

declare global {
  var __sampling: SamplingApi;
}

test.describe('device sampling and length buckets on webgpu', () => {
  let server: PageServer;
  let page: Page;

  test.beforeAll(async ({ browser }) => {
    test.setTimeout(240_000);
    server = await servePage(fileURLToPath(new URL('./device-sampling-page.ts', import.meta.url)), 'device sampling');
    page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => '__sampling' in globalThis, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => globalThis.__sampling.init())).toBe('webgpu');
  });

  test.afterAll(async () => {
    await page?.close();
    await server?.close();
  });

  test('selectToken equals sampleToken for the same seed', async () => {
    test.setTimeout(600_000);
    expect(await page.evaluate(() => globalThis.__sampling.selection())).toEqual([]);
  });

  test('generate picks the same tokens on the device as on the host', async () => {
    test.setTimeout(600_000);
    for (const r of await page.evaluate(() => globalThis.__sampling.generation())) expect(r.device, r.settings).toEqual(r.host);
  });

  test('a batch padded to its length bucket has the same loss and gradients', async () => {
    test.setTimeout(600_000);
    const r = await page.evaluate(() => globalThis.__sampling.buckets());
    expect([r.exactLen, r.bucketLen]).toEqual([13, 16]);
    expect(Math.abs(r.lossBucketed - r.lossExact)).toBeLessThanOrEqual(1e-5 * r.lossExact);
    expect(r.worstGrad).toBeLessThan(1e-4);
  });
});
