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

test('a whole folder: every .jsonl/.json inside, recursively, becomes an item named with its sub-folders; other files are listed as ignored', async ({ page }) => {
  const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = mkdtempSync('/tmp/e2e-folder-');
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'top.jsonl'), chatJsonl(3));
  writeFileSync(join(dir, 'sub', 'mid.json'), chatJsonl(2, 1));
  writeFileSync(join(dir, 'sub', 'deeper', 'low.jsonl'), chatJsonl(4, 2));
  mkdirSync(join(dir, 'sub_deeper'));
  writeFileSync(join(dir, 'sub_deeper', 'low.jsonl'), chatJsonl(5, 3)); // the same name as sub/deeper/low.jsonl: _2
  writeFileSync(join(dir, 'sub', 'notes.txt'), 'not data');
  await page.goto('/?backend=cpu');
  await page.getByTestId('btn-pause').waitFor();
  await page.getByTestId('priority-select').selectOption('low');
  await page.getByTestId('folder-input').setInputFiles(dir);
  for (const name of ['top.jsonl', 'mid_sub.json', 'low_sub_deeper.jsonl', 'low_sub_deeper_2.jsonl']) await expect(item(page, name)).toBeVisible();
  await expect(page.getByTestId('queue-item')).toHaveCount(4);
  await expect(page.getByTestId('drop-message')).toContainText('notes.txt');
});

test('reprioritize, move and delete queue items (daemon paused first, so nothing is picked up)', async ({ page }) => {
  await page.goto('/?backend=cpu');
  await page.getByTestId('btn-pause').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused');
  await dropFiles(page, [{ name: 'a.jsonl', text: chatJsonl(3, 1) }, { name: 'b.jsonl', text: chatJsonl(3, 2) }, { name: 'c.jsonl', text: chatJsonl(3, 3) }], 'low');
  for (const n of ['a.jsonl', 'b.jsonl', 'c.jsonl']) await expect(item(page, n)).toHaveAttribute('data-status', 'queued');
  const names = () => page.getByTestId('queue-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
  await expect.poll(names).toEqual(['a.jsonl', 'b.jsonl', 'c.jsonl']);

  await item(page, 'c.jsonl').getByTestId('btn-up').click();
  await expect.poll(names).toEqual(['a.jsonl', 'c.jsonl', 'b.jsonl']);
  await item(page, 'a.jsonl').getByTestId('btn-down').click();
  await expect.poll(names).toEqual(['c.jsonl', 'a.jsonl', 'b.jsonl']);

  await item(page, 'b.jsonl').getByTestId('item-priority').selectOption('high');
  await expect.poll(names).toEqual(['b.jsonl', 'c.jsonl', 'a.jsonl']);
  await expect(page.locator('[data-testid="queue-group"][data-priority="high"]')).toBeVisible();

  page.once('dialog', (d) => void d.accept());
  await item(page, 'c.jsonl').getByTestId('btn-delete').click();
  await expect.poll(names).toEqual(['b.jsonl', 'a.jsonl']);
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused');
});

test('only one tab trains: a second tab of the same profile watches read-only', async ({ page, context }) => {
  await page.goto('/?backend=cpu');
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', /idle|preparing|training/);
  await expect(page.getByTestId('read-only')).toHaveCount(0);
  const second = await context.newPage();
  await second.goto('/?backend=cpu');
  await expect(second.getByTestId('read-only')).toBeVisible({ timeout: 30_000 });
  // The watching tab still shows the shared state and queue.
  await dropFiles(page, [{ name: 'shared.jsonl', text: chatJsonl(3) }]);
  await expect(item(second, 'shared.jsonl')).toBeVisible();
  await expect(page.getByTestId('read-only')).toHaveCount(0);
  await second.close();
});

test('first start: one click on the example dataset queues it and training starts', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await page.getByTestId('btn-example').click();
  await expect(page.getByTestId('queue-item')).not.toHaveCount(0);
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'training', { timeout: 60_000 });
  await expect.poll(async () => Number(await page.getByTestId('train-step').getAttribute('data-step')), { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
});
