// Training in the real trainer worker (wasm here): the loss is shown and decreases, pause and resume at a step
// boundary, a reload in the middle of a file resumes from the last checkpoint at the right step, never counting a
// step twice.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, setConfig, shownLoss, shownStep, waitForStepAtLeast, watchErrors } from './helpers.ts';

test('train: loss shown and decreasing, validation loss and a sample answer appear; pause and resume', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await setConfig(page, { ...FAST, evalSteps: '6', sampleEvery: '6' });
  await dropFiles(page, [{ name: 'learn.jsonl', text: chatJsonl(60) }]);
  await expect(item(page, 'learn.jsonl')).toHaveAttribute('data-status', 'processing', { timeout: 60_000 });
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'training', { timeout: 90_000 });
  await expect(page.getByTestId('backend-badge')).toContainText(/wasm/i);

  await waitForStepAtLeast(page, 1);
  await expect.poll(() => shownLoss(page)).not.toBeNull();
  const first = (await shownLoss(page))!;
  await waitForStepAtLeast(page, 10);
  const smoothed = Number((await page.getByTestId('train-loss-smoothed').textContent())!.trim().split(/\s/)[0]);
  expect(smoothed).toBeLessThan(first);
  await expect(page.getByTestId('loss-chart')).not.toHaveAttribute('data-points', '0');
  // Issue 4: every 6 steps a validation loss and a sample answer with its match badge.
  await expect(page.getByTestId('val-loss')).toHaveText(/^\d+\.\d{4}$/, { timeout: 60_000 });
  await expect(page.getByTestId('sample-answer')).toHaveAttribute('data-match', /^(true|false)$/, { timeout: 60_000 });
  await expect(page.getByTestId('accuracy')).toContainText('overall');

  await page.getByTestId('btn-pause').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused', { timeout: 60_000 });
  const pausedAt = await shownStep(page);
  await page.waitForTimeout(3000);
  expect(await shownStep(page)).toBe(pausedAt);
  await expect(item(page, 'learn.jsonl')).not.toHaveAttribute('data-status', 'completed');
  await page.screenshot({ path: '/tmp/e2e-paused.png', fullPage: true });

  await page.getByTestId('btn-resume').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'training', { timeout: 60_000 });
  await waitForStepAtLeast(page, pausedAt + 1);

  // Issue 4: the chat answers from the trainer worker at a step boundary, and training continues after it.
  await page.getByTestId('chat-input').fill('add 2 3');
  await page.getByTestId('chat-send').click();
  await expect(page.getByTestId('chat-answer')).toHaveCount(1, { timeout: 60_000 });
  const afterChat = await shownStep(page);
  await waitForStepAtLeast(page, afterChat + 1);
  expect(errors.filter((e) => !/favicon/.test(e))).toEqual([]);
});

test('a reload in the middle of a file resumes from the last checkpoint at the right step', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST);
  await dropFiles(page, [{ name: 'resume.jsonl', text: chatJsonl(40, 3) }]);
  // FAST saves every 4 steps: wait for a checkpoint at step 4 and a few steps past it.
  await expect(page.locator('[data-testid="checkpoint-item"][data-step="4"]')).toBeVisible({ timeout: 150_000 });
  await waitForStepAtLeast(page, 6);
  const chartPoints = async () => Number(await page.getByTestId('loss-chart').getAttribute('data-points'));
  await expect.poll(chartPoints, { timeout: 10_000 }).toBeGreaterThanOrEqual(6);

  await page.reload();
  // The chart's history comes back from the store at once, before training goes on.
  await expect.poll(chartPoints, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', /preparing|training/, { timeout: 60_000 });
  // Resumed from a checkpoint (step ≥ 4), not from zero, and training goes on.
  await expect.poll(() => shownStep(page), { timeout: 90_000 }).toBeGreaterThanOrEqual(4);
  const it = item(page, 'resume.jsonl');
  await expect(it).toHaveAttribute('data-status', 'completed', { timeout: 170_000 });
  // The global step equals the file's steps: steps redone after the reload were not counted twice.
  const steps = (await it.getByTestId('item-steps').textContent())!;
  const [done, total] = steps.replace('step', '').split('/').map((x) => Number(x.trim()));
  expect(done).toBe(total);
  expect(await shownStep(page)).toBe(total);
});
