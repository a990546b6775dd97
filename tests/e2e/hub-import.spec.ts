// Import from the Hub against the local mock hub (tests/hub/mock-hub.ts; nothing reaches the internet): a gated,
// sharded repo without a token (the 401 is named) and with one (imported); a single-file repo whose weights stall
// mid-download, the page reloaded there, and the next visit resuming with a Range from the bytes the first stored;
// then the Hub model is set active and trains a step.
import { expect, test } from '@playwright/test';
import { bundledTinyModel, shardedTinyModel, startMockHub, type MockHub } from '../hub/mock-hub.ts';
import { HUB_CHUNK_BYTES } from '../../src/store/hub-downloads.ts';
import { FAST, chatJsonl, dropFiles, setConfig, waitForStepAtLeast, watchErrors } from './helpers.ts';

const TOKEN = 'hf_e2e_gated_token';
let hub: MockHub;

test.beforeAll(async () => {
  hub = await startMockHub({ 'tiny/qwen3-tiny': { files: bundledTinyModel() }, 'tiny/gated-sharded': { files: shardedTinyModel(2), gatedToken: TOKEN } });
});
test.afterAll(async () => hub?.close());

test('Hub import: gated repo without and with a token, a reload mid-download resumes by Range, the model trains', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto(`/?backend=wasm&hub=${encodeURIComponent(hub.url)}`);
  const models = page.getByTestId('model-item');
  await expect(models.first()).toBeVisible({ timeout: 60_000 });
  const before = await models.count();
  await expect(page.getByTestId('hub-url-input')).toHaveValue(hub.url);

  // A gated repo without a token: the 401 is named, nothing is imported.
  await page.getByTestId('hub-repo-input').fill('tiny/gated-sharded');
  await page.getByTestId('btn-hub-import').click();
  await expect(page.getByTestId('hub-error')).toContainText('HTTP 401');
  await expect(page.getByTestId('hub-error')).toContainText('gated repo');
  // With the token: listed, checked, downloaded (index and both shards) and imported.
  await page.getByTestId('hub-token-input').fill(TOKEN);
  await page.getByTestId('btn-hub-import').click();
  await expect(models).toHaveCount(before + 1, { timeout: 120_000 });
  await expect(page.getByTestId('notice')).toContainText('Imported tiny/gated-sharded');
  await expect(page.getByTestId('hub-error')).toHaveCount(0);
  for (const shard of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
    expect(hub.requests.some((r) => r.file === shard && r.range === 'bytes=0-' && r.token === TOKEN)).toBe(true);
  }

  // A repo whose weights stall after two chunks: reload there; the next visit resumes from the stored bytes.
  const cut = 2 * HUB_CHUNK_BYTES;
  hub.throttle({ repo: 'tiny/qwen3-tiny', path: 'model.safetensors', afterBytes: cut, bytesPerSec: 0 });
  await page.getByTestId('hub-repo-input').fill('tiny/qwen3-tiny');
  await page.getByTestId('btn-hub-import').click();
  await expect(page.getByTestId('hub-progress')).toBeVisible();
  await expect(page.locator('[data-testid="hub-file"][data-path="model.safetensors"]')).toHaveAttribute('data-done', String(cut), { timeout: 60_000 });
  const firstVisit = hub.requests.filter((r) => r.file === 'model.safetensors' && r.method === 'GET' && r.range?.endsWith('-'));
  expect(firstVisit.map((r) => r.range)).toEqual(['bytes=0-']);
  const mark = hub.requests.length;
  await page.reload();
  await expect(models).toHaveCount(before + 2, { timeout: 120_000 });
  await expect(page.getByTestId('notice')).toContainText('Imported tiny/qwen3-tiny');
  const secondVisit = hub.requests.slice(mark).filter((r) => r.file === 'model.safetensors' && r.method === 'GET' && r.range?.endsWith('-'));
  expect(secondVisit.map((r) => r.range)).toEqual([`bytes=${cut}-`]);
  // Files completed in the first visit are not fetched again.
  expect(hub.requests.slice(mark).some((r) => r.file === 'tokenizer.json' && r.range === 'bytes=0-')).toBe(false);
  hub.throttle(null);

  // The sharded Hub model, set active, trains a step.
  const sharded = models.filter({ hasText: 'tiny/gated-sharded' });
  await sharded.getByTestId('btn-activate-model').click();
  await expect(sharded).toContainText('active');
  await setConfig(page, FAST);
  await dropFiles(page, [{ name: 'hub.jsonl', text: chatJsonl(4) }]);
  await waitForStepAtLeast(page, 1);
  expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
});
