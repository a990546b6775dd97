// Stop and skip never lose the untrained rest of a file: stop saves a checkpoint and the item keeps its progress;
// resume continues there; skip marks the file skipped and Retry requeues it.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, setConfig, shownStep, waitForStepAtLeast } from './helpers.ts';

test('stop keeps the file\'s progress and resume continues it; skip, then retry requeues', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST);
  await dropFiles(page, [{ name: 'long.jsonl', text: chatJsonl(80, 5) }]);
  await waitForStepAtLeast(page, 3);

  await page.getByTestId('btn-stop').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  const stoppedAt = await shownStep(page);
  const it = item(page, 'long.jsonl');
  await expect(it).not.toHaveAttribute('data-status', /completed|processing/);
  await expect(it.getByTestId('item-steps')).toContainText(`step ${stoppedAt} /`);
  await expect(page.locator(`[data-testid="checkpoint-item"][data-step="${stoppedAt}"]`).first()).toBeVisible();

  await page.getByTestId('btn-resume').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', /preparing|training/, { timeout: 60_000 });
  await waitForStepAtLeast(page, stoppedAt + 1);
  expect(await shownStep(page)).toBeGreaterThan(stoppedAt);

  await page.getByTestId('btn-skip').click();
  await expect(it).toHaveAttribute('data-status', 'skipped', { timeout: 60_000 });
  await it.getByTestId('btn-retry').click();
  await expect(it).toHaveAttribute('data-status', /queued|processing/);

  // Deleting a checkpoint asks first, naming what is lost.
  const ckpts = page.getByTestId('checkpoint-item');
  const count = await ckpts.count();
  expect(count).toBeGreaterThanOrEqual(2);
  const oldest = ckpts.last();
  const step = await oldest.getAttribute('data-step');
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.accept();
  });
  await oldest.getByTestId('btn-delete-checkpoint').click();
  await expect.poll(() => asked || page.getByTestId('notice').textContent(), { timeout: 10_000 }).toMatch(new RegExp(`step ${step}`));
  if (asked) await expect(page.locator(`[data-testid="checkpoint-item"][data-step="${step}"]`)).toHaveCount(0);
});
