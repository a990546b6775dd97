// Fixed eval sets (issue 13): a file added as an eval set beside a training file of the tiny model is scored for the
// base model and at every checkpoint; the latest EM, loss and ECE and the delta from the base model are on the page
// and still there after a reload.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, openTab, setConfig, watchErrors } from './helpers.ts';

test('an eval set: base result, EM / loss / ECE at the file-end checkpoint, delta from base, kept across a reload', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST);
  await openTab(page, 'evaluation');
  const set = page.locator('[data-testid="eval-set-item"][data-name="held.jsonl"]');
  await expect(async () => {
    await page.getByTestId('eval-file-input').setInputFiles({ name: 'held.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(chatJsonl(6, 1)) });
    await expect(set).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 60_000 }); // refused until the trainer has made the bundled model active
  const result = (metric: string) => set.locator(`[data-testid="eval-result"][data-metric="${metric}"]`);
  await expect(result('em')).toHaveAttribute('data-step', '0', { timeout: 90_000 }); // the base model, scored while idle

  await dropFiles(page, [{ name: 'train.jsonl', text: chatJsonl(16) }]); // batch 2 → 8 steps, checkpoints at 4 and 8
  await expect(item(page, 'train.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 150_000 });
  await expect(result('em')).toHaveAttribute('data-step', '8', { timeout: 60_000 });
  for (const m of ['em', 'loss', 'ece']) {
    await expect(result(m)).toHaveAttribute('data-step', '8');
    await expect(result(m)).toHaveText(/^\d+\.\d+( %)?$/);
  }
  await expect(set.getByTestId('base-delta')).toHaveCount(3);
  await expect(set.locator('[data-testid="base-delta"][data-metric="loss"]')).toHaveText(/^−\d+\.\d{4}$/); // trained on the same mapping
  const loss = await result('loss').textContent();

  await page.reload();
  await expect(result('loss')).toHaveText(loss!, { timeout: 30_000 });
  await expect(result('em')).toHaveAttribute('data-step', '8');
  await expect(set.getByTestId('base-delta')).toHaveCount(3);
  await expect(page.getByTestId('eval-time-share')).toContainText('% of the trainer');
  expect(errors.filter((e) => !/favicon/.test(e))).toEqual([]);
});

test('an eval set drawn from a queued training file: the page says its examples are not trained on', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await page.getByTestId('btn-pause').click(); // idle → paused: the file stays queued
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused', { timeout: 60_000 });
  await dropFiles(page, [{ name: 'big.jsonl', text: chatJsonl(150) }]);
  await expect(item(page, 'big.jsonl')).toHaveAttribute('data-status', 'queued', { timeout: 60_000 });
  await item(page, 'big.jsonl').getByTestId('btn-draw-eval').click();
  await expect(item(page, 'big.jsonl').getByTestId('eval-drawn')).toHaveText('100 examples drawn as the eval set big.eval.jsonl: not trained on');
  await openTab(page, 'evaluation');
  await expect(page.locator('[data-testid="eval-set-item"][data-name="big.eval.jsonl"]')).toBeVisible();
  await expect(item(page, 'big.jsonl').getByTestId('btn-draw-eval')).toHaveCount(0); // drawn once
});
