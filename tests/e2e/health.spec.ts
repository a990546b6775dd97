// The health panel warns before the disk is full: with the origin's quota set small through Chromium's DevTools
// protocol (Storage.overrideQuotaForOrigin, before the page opens its database), the next checkpoint of the bundled
// model (its weights and Adam moments, ~110 MB) does not fit, and the quota warning says so with its action, while
// estimate() still reports gigabytes free. Without the override there is no quota warning; training, the trainer is
// alive and holds tensors, and the dataset is counted.
import { expect, test } from '@playwright/test';
import { openTab } from './helpers.ts';

test('the quota warning appears under a small quota, and not without one', async ({ page, context, baseURL }) => {
  const cdp = await context.newCDPSession(page);
  const origin = new URL(baseURL!).origin;
  const { usage } = await cdp.send('Storage.getUsageAndQuota', { origin });
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + 20 * 1024 * 1024 });
  await page.goto('/?backend=wasm');

  const panel = page.getByTestId('health-panel');
  const quota = panel.locator('[data-testid="health-warning"][data-kind="quota"]');
  await expect(quota).toHaveCount(1);
  await expect(quota).toContainText('does not fit');
  await expect(quota).toContainText('Delete checkpoints');
  await expect(panel.getByTestId('health-checkpoint-age')).toHaveAttribute('data-fits', 'false');
  const estimate = await page.evaluate(() => navigator.storage.estimate());
  expect(estimate.quota! - estimate.usage!, 'estimate() does not show the override').toBeGreaterThan(1024 ** 3);

  await cdp.send('Storage.overrideQuotaForOrigin', { origin }); // the default quota again
  await page.reload();
  await expect(panel.getByTestId('health-checkpoint-age')).toHaveAttribute('data-fits', 'true'); // the probe ran
  await expect(panel.locator('[data-testid="health-warning"][data-kind="quota"]')).toHaveCount(0);
  // The other facts: while training, the trainer is alive and holds tensors; the dataset is counted; the backend named.
  await page.getByTestId('btn-example').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'training', { timeout: 60_000 });
  await expect(panel.getByTestId('health-heartbeat')).toHaveAttribute('data-alive', 'yes');
  await expect.poll(async () => Number((await panel.getByTestId('health-tensors').textContent())?.match(/^([\d,]+) tensors/)?.[1].replace(/,/g, '') ?? 0), { timeout: 30_000 }).toBeGreaterThan(0);
  await expect(panel.getByTestId('health-backend')).toContainText('wasm');
  await expect(panel.getByTestId('health-persistent')).toHaveAttribute('data-persisted', /true|false/);
  await expect(panel.locator('[data-testid="health-category"][data-category="datasets"]')).toHaveCount(1, { timeout: 40_000 }); // read every 30 s
  await openTab(page, 'storage');
  await panel.screenshot({ path: '/tmp/e2e-health.png' });
});
