// Drop → validate → queue: a valid and an invalid file, statuses, line errors with line numbers, the same content
// twice flagged, priority groups, and the first-start state (bundled tiny model active, header filled in).
import { expect, test } from '@playwright/test';
import { chatJsonl, dropFiles, invalidJsonl, item, watchErrors } from './helpers.ts';

test('first start: the bundled tiny model is active and the header says what runs', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=cpu');
  await expect(page.getByTestId('active-model')).toContainText(/tiny/i);
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', /idle|preparing|training/);
  await expect(page.getByTestId('backend-badge')).toContainText(/cpu/i);
  await expect(page.getByTestId('storage')).toContainText('/');
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  await page.screenshot({ path: '/tmp/e2e-first-start.png', fullPage: true });
  expect(errors).toEqual([]);
});

test('a valid and an invalid file: statuses, line errors, duplicate flag, priority groups', async ({ page }) => {
  await page.goto('/?backend=cpu');
  await dropFiles(page, [{ name: 'bad.jsonl', text: invalidJsonl() }], 'high');
  await expect(item(page, 'bad.jsonl')).toHaveAttribute('data-status', 'failed');
  const bad = item(page, 'bad.jsonl');
  await bad.getByTestId('btn-line-errors').click();
  await expect(bad.getByTestId('line-error')).toHaveCount(2);
  await expect(bad.locator('[data-testid="line-error"][data-line="2"]')).toBeVisible();
  await expect(bad.locator('[data-testid="line-error"][data-line="4"]')).toBeVisible();
  await expect(page.locator('[data-testid="queue-group"][data-priority="high"]')).toBeVisible();

  const text = chatJsonl(12);
  await dropFiles(page, [{ name: 'good.jsonl', text }], 'low');
  await expect(item(page, 'good.jsonl')).toHaveAttribute('data-status', /queued|processing|completed/);
  await expect(item(page, 'good.jsonl').getByTestId('item-examples')).toContainText('12 examples');

  await dropFiles(page, [{ name: 'good-again.jsonl', text }], 'low');
  await expect(item(page, 'good-again.jsonl').getByTestId('item-duplicate')).toContainText('good.jsonl');
  await page.screenshot({ path: '/tmp/e2e-queue.png', fullPage: true });

  // The error report downloads with the line numbers in it.
  const download = page.waitForEvent('download');
  await bad.getByTestId('btn-report').click();
  const report = await (await download).createReadStream();
  const chunks: Buffer[] = [];
  for await (const c of report) chunks.push(c as Buffer);
  expect(Buffer.concat(chunks).toString()).toMatch(/line 2/);
});

test('skip invalid lines queues the valid ones and lists the skipped', async ({ page }) => {
  await page.goto('/?backend=cpu');
  await page.getByTestId('skip-invalid').check();
  await dropFiles(page, [{ name: 'mixed.jsonl', text: invalidJsonl() }]);
  const it = item(page, 'mixed.jsonl');
  await expect(it).toHaveAttribute('data-status', /queued|processing|completed/);
  await expect(it.getByTestId('item-examples')).toContainText('2 examples');
  await expect(it).toContainText('2 lines skipped');
});
