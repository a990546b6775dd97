// Issue 14 on one page (wasm, the bundled tiny model): two accepted files queued as a 70 / 30 mix train interleaved,
// the tab reloaded mid-mix resumes it from its checkpoint to the end (each file's examples all taken); then a second
// run with another learning rate, and the two runs compared: curves overlaid and the config diff naming the change.
import { expect, test, type Page } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, setConfig, waitForStepAtLeast } from './helpers.ts';

test.describe.configure({ mode: 'serial' });
let page: Page;
test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
});
/** The panels under test are on the training tab (the config editor may have left another one shown). */
const trainingTab = () => page.evaluate(() => void (location.hash = 'training'));
test.afterAll(async () => {
  await page.close();
});

test('a 70 / 30 mix trains and resumes after a reload', async () => {
  await page.goto('/?backend=wasm');
  await setConfig(page, { ...FAST, saveSteps: '2' });
  await trainingTab();
  await page.getByTestId('btn-pause').click(); // nothing starts while the mix is made
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused', { timeout: 60_000 });
  await dropFiles(page, [{ name: 'seventy.jsonl', text: chatJsonl(10, 0) }, { name: 'thirty.jsonl', text: chatJsonl(4, 3) }]);
  for (const name of ['seventy.jsonl', 'thirty.jsonl']) await expect(item(page, name)).toHaveAttribute('data-status', 'queued', { timeout: 60_000 });
  const panel = page.getByTestId('mix-panel');
  for (const [name, ratio] of [['seventy.jsonl', '70'], ['thirty.jsonl', '30']]) {
    await panel.locator(`[data-testid="mix-choose"][data-name="${name}"]`).check();
    await panel.locator(`[data-testid="mix-ratio"][data-name="${name}"]`).fill(ratio);
  }
  await panel.getByTestId('mix-create').click();
  const mix = page.getByTestId('mix-item');
  await expect(mix).toHaveAttribute('data-status', 'queued');
  await expect(item(page, 'seventy.jsonl')).toHaveAttribute('data-status', 'skipped'); // the files are the mix's now

  await page.getByTestId('btn-resume').click();
  await waitForStepAtLeast(page, 3); // a checkpoint at step 2 recorded the mix's position
  const seventy = mix.locator('[data-testid="mix-source"][data-name="seventy.jsonl"]');
  const thirty = mix.locator('[data-testid="mix-source"][data-name="thirty.jsonl"]');
  await expect(seventy).toHaveAttribute('data-taken', /^[1-9]/);
  await page.reload(); // the trainer dies mid-mix; the page resumes it from the checkpoint
  await expect(mix).toHaveAttribute('data-status', /queued|processing/, { timeout: 60_000 });
  await expect(mix).toHaveAttribute('data-status', 'completed', { timeout: 150_000 });
  for (const src of [seventy, thirty]) expect(await src.getAttribute('data-taken')).toBe(await src.getAttribute('data-planned'));
  const planned = [Number(await seventy.getAttribute('data-planned')), Number(await thirty.getAttribute('data-planned'))];
  expect(Math.abs(planned[0] - 0.7 * (planned[0] + planned[1]))).toBeLessThanOrEqual(1);
});

test('two runs overlaid with their config diff', async () => {
  await setConfig(page, { learningRate: '0.001' });
  await trainingTab();
  await dropFiles(page, [{ name: 'other.jsonl', text: chatJsonl(4, 1) }]);
  await expect(item(page, 'other.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 120_000 });
  const view = page.getByTestId('compare-view');
  // By default the two newest runs: the mix (resumed after the reload) and other.jsonl.
  await expect(view.getByTestId('compare-a').locator('option:checked')).toContainText('mix:');
  await expect(view.getByTestId('compare-b').locator('option:checked')).toContainText('other.jsonl');
  await expect(view).toHaveAttribute('data-points-a', /^[1-9]/);
  await expect(view).toHaveAttribute('data-points-b', /^[1-9]/);
  const diff = view.getByTestId('config-diff');
  await expect(diff).toHaveAttribute('data-fields', 'learningRate');
  await expect(diff.locator('[data-field="learningRate"]')).toContainText('0.003');
  await expect(diff.locator('[data-field="learningRate"]')).toContainText('0.001');
  await expect(view.locator('.uplot .u-legend')).toContainText('loss A');
  await view.getByTestId('compare-axis').selectOption('tokens');
  await expect(view.locator('.uplot')).toHaveCount(1);
  await view.getByTestId('config-history').locator('summary').click();
  await expect(view.getByTestId('config-change').first()).toContainText('learningRate 0.003 → 0.001');
});
