// One Playwright describe block for a page of the matrix bundle (tests/matrix/browser-bundle.ts): the bundle is
// served through page.route, the page's API (a global such as __kernels) is started on webgpu — setBackend('webgpu')
// can fail quietly, and the checks must never run on another backend — and each named check is one test, logging
// what it measured when it reports that.
import { expect, test, type Page } from '@playwright/test';
import { buildMatrixBundle, MATRIX_PATH } from '../matrix/browser-bundle.ts';

/** What every matrix page puts on globalThis under its API name. */
interface MatrixPageApi {
  init(): Promise<{ started: boolean; backend: string; adapter?: string }>;
  run(name: string): Promise<{ ok: true; measured?: string } | { ok: false; message: string }>;
}

export interface MatrixPage {
  /** The describe block's title. */
  title: string;
  /** The bundle's page, e.g. 'kernels.html'. */
  html: string;
  /** The global its entry sets, e.g. '__kernels'. */
  api: string;
  checks: readonly string[];
  /** A line logged once the backend started (the adapter, for the backend matrix). */
  started?: (adapter: string | undefined) => string;
}

export function describeMatrixPage(m: MatrixPage): void {
  test.describe(m.title, () => {
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
      await page.goto(`${MATRIX_PATH}${m.html}`);
      await page.waitForFunction((a) => a in globalThis, m.api, { timeout: 60_000 });
      const info = await page.evaluate((a) => (globalThis as unknown as Record<string, MatrixPageApi>)[a].init(), m.api);
      const adapter = info.adapter ? `WebGPU adapter: ${info.adapter}; ` : '';
      expect(info.backend, `${adapter}setBackend returned ${info.started}`).toBe('webgpu');
      if (m.started) console.log(m.started(info.adapter));
    });

    test.afterAll(async () => {
      await page?.close();
    });

    for (const name of m.checks) {
      test(name, async () => {
        const r = await page.evaluate(([a, n]) => (globalThis as unknown as Record<string, MatrixPageApi>)[a].run(n), [m.api, name] as const);
        if (r.ok && r.measured) console.log(`  ${name}: ${r.measured}`);
        expect(r.ok ? null : `${r.message}${errors.length ? `\npage errors: ${errors.join('; ')}` : ''}`).toBeNull();
      });
    }
  });
}
