// Rollback that branches: "Use" on an older checkpoint asks first, naming what changes (cancel changes nothing);
// once training goes on from it, the loss chart shows the set-aside branch beside the new run, and the lineage the rollback.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, setConfig, waitForStepAtLeast, watchErrors } from './helpers.ts';

test('Use on an older checkpoint asks, then training continues from it and the chart shows both branches', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST); // a checkpoint every 4 steps
  await dropFiles(page, [{ name: 'a.jsonl', text: chatJsonl(20, 1) }]);
  await expect(item(page, 'a.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 120_000 });
  const four = page.locator('[data-testid="checkpoint-item"][data-step="4"]');
  await expect(four).toHaveCount(1);
  const endStep = Number(await page.locator('[data-testid="checkpoint-item"]').first().getAttribute('data-step'));
  expect(endStep).toBeGreaterThanOrEqual(8);
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', String(endStep));

  // Cancel: nothing changes.
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await four.getByTestId('btn-use-checkpoint').click();
  await expect.poll(() => asked).toContain('Training continues from step 4 of');
  await expect(four).not.toContainText('training continues here');

  // Accept: the confirmation names the step, the newer checkpoints and the branch they become.
  asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.accept();
  });
  await four.getByTestId('btn-use-checkpoint').click();
  await expect.poll(() => asked).toMatch(/^Training continues from step 4 of .+\. The \d+ newer checkpoints? \(steps? 8.*\) and the loss history after step 4 become the side branch 'main': kept \(not deleted automatically for 36 hours\) and shown beside the new run, branch 'branch 2'\.$/);
  await expect(four).toContainText('training continues here');

  // Training on: the new run starts at step 4, and the chart draws the set-aside branch beside it.
  await dropFiles(page, [{ name: 'b.jsonl', text: chatJsonl(8, 2) }]);
  await expect(item(page, 'b.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 120_000 });
  await waitForStepAtLeast(page, 5);
  const aside = page.locator('[data-testid="branch-series"][data-branch="main"]');
  await expect(aside).toHaveAttribute('data-points', String(endStep - 4)); // steps 5..end of the first run, kept
  await expect.poll(async () => Number(await aside.getAttribute('data-drawn'))).toBe(endStep - 4);
  await expect(page.getByTestId('current-series')).toContainText('branch 2 (current)');
  await expect(page.locator('[data-testid="loss-chart"] .u-legend .u-label', { hasText: 'main (set aside)' })).toHaveCount(1);
  await expect(page.locator('[data-testid="model-item"] [data-testid="lineage-rollback"]')).toContainText("back to step 4: branch 'branch 2'");
  // The set-aside checkpoints are still listed, marked.
  await expect(page.locator('[data-testid="checkpoint-branch"]', { hasText: 'main, set aside' }).first()).toBeVisible();
  // The toggle hides the set-aside branch's series.
  await page.getByTestId('chart-branches-toggle').uncheck();
  await expect(page.locator('[data-testid="loss-chart"] .u-legend .u-label', { hasText: 'main (set aside)' })).toHaveCount(0);
  expect(errors).toEqual([]);
});
