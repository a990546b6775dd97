// The memory panel in the page: the active model's run checked by the daemon's preflight, and the GPU memory as a
// setting (SwiftShader is not in the known-adapter table, so the page asks; the value survives a reload).
import { expect, test } from '@playwright/test';
import { openTab } from './helpers.ts';

test('the memory panel checks the run and keeps the GPU memory the person enters', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await openTab(page, 'settings');
  const panel = page.getByTestId('memory-estimate');
  await expect(panel).toHaveAttribute('data-fits', 'true'); // the tiny model fits the wasm heap
  await expect(page.getByTestId('memory-limit')).toContainText('wasm heap');
  const device = page.getByTestId('device-memory');
  await expect(device).toHaveAttribute('data-source', 'unknown');
  await expect(page.getByTestId('device-memory-source')).toContainText('enter it');

  await page.getByTestId('device-memory-input').fill('24');
  await page.getByTestId('device-memory-save').click();
  await expect(device).toHaveAttribute('data-source', 'setting');
  await expect(device).toHaveAttribute('data-bytes', String(24 * 1024 ** 3));

  await page.reload();
  await expect(page.getByTestId('device-memory')).toHaveAttribute('data-source', 'setting');
  await expect(page.getByTestId('device-memory-input')).toHaveValue('24');
  await page.getByTestId('device-memory-reset').click();
  await expect(page.getByTestId('device-memory')).toHaveAttribute('data-source', 'unknown');
});
