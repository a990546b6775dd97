// A new build deployed while the page is open (issue 16): the page keeps running the build it has (the service
// worker never swaps it under the person), the update prompt appears, and Reload switches to the new build.
// Build B is build A with a changed page, as a rebuild makes it: index.html differs, and so does the service worker
// (its precache manifest carries index.html's new revision, the MD5 Workbox writes).
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PORT } from './playwright.config.ts';
import { serveBuild, type BuildServer } from './static-server.ts';

let dirs: string;
let server: BuildServer;

test.beforeAll(async () => {
  test.setTimeout(8 * 60_000);
  dirs = mkdtempSync(join(tmpdir(), 'workbench-pwa-'));
  const a = join(dirs, 'a');
  const b = join(dirs, 'b');
  const built = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn', '--outDir', a, '--emptyOutDir'], { stdio: ['ignore', 'ignore', 'inherit'] });
  expect(built.status, 'vite build').toBe(0);
  cpSync(a, b, { recursive: true });
  const page = readFileSync(join(b, 'index.html'), 'utf8').replace('<head>', '<head>\n    <meta name="workbench-build" content="B" />');
  writeFileSync(join(b, 'index.html'), page);
  const oldRev = createHash('md5').update(readFileSync(join(a, 'index.html'))).digest('hex');
  const newRev = createHash('md5').update(page).digest('hex');
  const sw = readFileSync(join(b, 'sw.js'), 'utf8');
  expect(sw, 'the service worker precaches index.html by its MD5').toContain(`"revision":"${oldRev}","url":"index.html"`);
  writeFileSync(join(b, 'sw.js'), sw.replace(oldRev, newRev));
  server = await serveBuild(a, PORT);
});

test.afterAll(async () => {
  await server?.close();
  if (dirs) rmSync(dirs, { recursive: true, force: true });
});

test('a new build: the prompt appears, the page stays on its build until Reload, then runs the new one', async ({ page }) => {
  // While Reload navigates, the old document's context is gone: that read is "not yet", not a failure.
  const build = () => page.evaluate(() => document.querySelector('meta[name="workbench-build"]')?.getAttribute('content') ?? 'A').catch(() => 'navigating');
  await page.goto('/?backend=wasm');
  await expect(page.getByTestId('offline-ready')).toBeAttached({ timeout: 120_000 });
  await expect(page.getByTestId('update-prompt')).toHaveCount(0);

  server.deploy(join(dirs, 'b'));
  await page.reload(); // a navigation: the browser finds the new service worker, which installs and waits
  await expect(page.getByTestId('update-prompt')).toBeVisible({ timeout: 60_000 });
  expect(await build(), 'the page keeps its build until the person reloads into the new one').toBe('A');

  await page.getByTestId('btn-update-reload').click();
  await expect.poll(build, { timeout: 60_000 }).toBe('B');
  await expect(page.getByTestId('update-prompt')).toHaveCount(0);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
});
