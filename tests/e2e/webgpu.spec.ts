// The WebGPU path at least once: on this machine the adapter is SwiftShader (slow, seconds of shader compilation),
// so the tiny model, batch 1, short sequences and very few steps.
import { expect, test } from '@playwright/test';
import { chatJsonl, dropFiles, setConfig, shownLoss, waitForStepAtLeast } from './helpers.ts';

test('trains on WebGPU when asked with ?backend=webgpu', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto('/?backend=webgpu');
  await setConfig(page, { batchSize: '1', gradAccumSteps: '1', maxLength: '24', logEvery: '1', saveSteps: '0', evalSteps: '0', learningRate: '0.003', warmupSteps: '0' });
  await dropFiles(page, [{ name: 'gpu.jsonl', text: chatJsonl(4) }]);
  await expect(page.getByTestId('backend-badge')).toContainText(/webgpu/i, { timeout: 120_000 });
  await waitForStepAtLeast(page, 2, 240_000);
  await expect.poll(() => shownLoss(page)).not.toBeNull();
  expect(Number.isFinite((await shownLoss(page))!)).toBe(true);
  // Steps really applied: a step whose update the device dropped is counted as skipped (an invalid AddN pipeline once
  // dropped every update while the loss still looked finite).
  await expect(page.getByTestId('item-skipped-steps')).toHaveCount(0);
  await expect(page.locator('[data-testid="queue-item"][data-status="failed"]')).toHaveCount(0);
  await page.screenshot({ path: '/tmp/e2e-webgpu.png', fullPage: true });
});
