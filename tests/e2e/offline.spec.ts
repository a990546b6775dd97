// Offline after one visit (issue 16): the service worker caches the build and the bundled model; with the network
// off the page reloads cross-origin isolated (threaded wasm, named in the header), a missing model file is still a
// 404 and a ranged read is answered from the cache, and a dropped file is queued and trains a step. The page is
// installable (Chromium's own installability check).
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, setConfig, waitForStepAtLeast, watchErrors } from './helpers.ts';
import { wasmThreadCount } from '../../src/daemon/backend-choice.ts';

test('offline after one visit: reload, queue a file and train a step with the network off', async ({ page, context }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST);
  await expect(page.getByTestId('offline-ready')).toBeAttached({ timeout: 120_000 });
  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: { errorId: string }[] };
  // Playwright's contexts are incognito, where Chrome never offers to install: every other check must pass.
  expect(installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito')).toEqual([]);
  const manifest = (await cdp.send('Page.getAppManifest')) as { errors: unknown[]; url: string };
  expect(manifest.url).toMatch(/\/manifest\.webmanifest$/);
  expect(manifest.errors).toEqual([]);

  await context.setOffline(true);
  await page.reload();
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  const before = errors.length;
  const probe = await page.evaluate(async () => {
    const status = (p: Promise<Response>) => p.then((r) => r.status, () => 'network error');
    const ranged = await fetch('/models/qwen3-tiny/model.safetensors', { headers: { Range: 'bytes=0-7' } });
    return {
      // A probe for an optional file of the model folder: a 404, as online (not the page, not a network error).
      index: await status(fetch('/models/qwen3-tiny/model.safetensors.index.json')),
      ranged: [ranged.status, (await ranged.arrayBuffer()).byteLength, ranged.headers.get('Content-Range')],
      // Nothing cached there and the network is off, for the service worker's own fetch too.
      uncached: await status(fetch('/models/qwen3-tiny/not-cached.json')),
      elsewhere: await status(fetch('/no-such-file')),
    };
  });
  errors.splice(before); // the probes' own 404 and network errors, logged by the page
  expect(probe.index).toBe(404);
  expect(probe.ranged[0]).toBe(206);
  expect(probe.ranged[1]).toBe(8);
  expect(String(probe.ranged[2])).toMatch(/^bytes 0-7\/\d+$/);
  expect(probe.uncached).toBe('network error');
  expect(probe.elsewhere).toBe('network error');

  await dropFiles(page, [{ name: 'offline.jsonl', text: chatJsonl(12) }]);
  await expect(item(page, 'offline.jsonl')).toHaveAttribute('data-status', /queued|processing/, { timeout: 60_000 });
  await waitForStepAtLeast(page, 1, 120_000);
  const threads = wasmThreadCount(await page.evaluate(() => navigator.hardwareConcurrency));
  await expect(page.getByTestId('backend-badge')).toContainText(`wasm · threaded SIMD · ${threads} thread${threads === 1 ? '' : 's'}`);
  expect(errors.filter((e) => !/favicon/.test(e))).toEqual([]);
});
