// The inference node end to end: a real companion server started here (127.0.0.1, admin key), the workbench
// trains a tiny file so a checkpoint exists, the panel shows a closed port as down (quickly, no hang), connects
// with the key, deploys the checkpoint (HF zip upload, register, set active), uploads an eval set, evaluates,
// and shows the accuracy, kept with the checkpoint across a reload; a data-gen job's shard lands in the queue.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, closedPort, dropFiles, openTab, setConfig, startInferenceNode, type RunningNode } from './helpers.ts';

const ADMIN = 'e2e-admin-key';
let node: RunningNode;

test.beforeAll(async () => {
  node = await startInferenceNode({ adminKey: ADMIN });
});
test.afterAll(async () => {
  await node?.stop();
});

const EVAL_JSONL = chatJsonl(3, 1);

test('deploy a checkpoint to the inference node and see its eval result; a closed port shows down', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST);
  await dropFiles(page, [{ name: 'remote-tiny.jsonl', text: chatJsonl(4) }]);
  await openTab(page, 'node');

  // No URL yet: not connected, nothing polled.
  const status = page.getByTestId('remote-status');
  await expect(status).toHaveAttribute('data-status', 'unknown');
  // While it trains: a closed port is shown as down within seconds, never a hang.
  await page.getByTestId('remote-url').fill(`http://127.0.0.1:${await closedPort()}`);
  await page.getByTestId('remote-admin-key').fill(ADMIN);
  const t0 = Date.now();
  await page.getByTestId('remote-connect').click();
  await expect(status).toHaveAttribute('data-status', 'down', { timeout: 15_000 });
  expect(Date.now() - t0).toBeLessThan(15_000);
  await expect(status).toContainText('cannot be reached');

  // A wrong key is refused; the right one connects.
  await page.getByTestId('remote-url').fill(node.url);
  await page.getByTestId('remote-admin-key').fill('wrong');
  await page.getByTestId('remote-connect').click();
  await expect(status).toHaveAttribute('data-status', 'unauthorized', { timeout: 15_000 });
  await page.getByTestId('remote-admin-key').fill(ADMIN);
  await page.getByTestId('remote-connect').click();
  await expect(status).toHaveAttribute('data-status', 'up', { timeout: 15_000 });

  const deploy = page.getByTestId('btn-deploy').first();
  await expect(deploy).toBeVisible({ timeout: 150_000 });
  const checkpointId = (await deploy.getAttribute('data-checkpoint'))!;
  await deploy.click();
  await expect(page.getByTestId('remote-active-model')).toHaveText(checkpointId.replace(/[^A-Za-z0-9._:@-]/g, '-'), { timeout: 120_000 });
  await expect(page.locator(`[data-testid="remote-model"][data-id="${checkpointId.replace(/[^A-Za-z0-9._:@-]/g, '-')}"]`)).toContainText('active');

  await page.getByTestId('eval-upload').setInputFiles({ name: 'e2e-eval.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(EVAL_JSONL) });
  await expect(page.getByTestId('eval-set')).toHaveValue('e2e-eval', { timeout: 30_000 });
  // Every profile is offered; the deployed checkpoint's own (plain_sft) is chosen.
  await expect(page.locator('[data-testid="eval-profile"] option')).toHaveText(['plain_sft', 'emoji_think', 'regime3']);
  await expect(page.getByTestId('eval-profile')).toHaveValue('plain_sft');
  await page.getByTestId('btn-evaluate').click();
  const result = page.getByTestId('remote-eval-result');
  await expect(result).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
  await expect(page.getByTestId('eval-accuracy')).toHaveText(/^\d+(\.\d)?%$/);
  await expect(page.getByTestId('eval-ece')).toHaveText(/^\d\.\d{3}$/);
  await expect(result).toContainText('/3)');

  // Kept with the checkpoint in the store, listed and charted; still there after a reload (keys from localStorage).
  const row = page.locator(`[data-testid="remote-eval-row"][data-checkpoint="${checkpointId}"]`);
  await expect(row).toHaveCount(1);
  const accuracy = Number(await row.getAttribute('data-accuracy'));
  expect(accuracy).toBeGreaterThanOrEqual(0);
  expect(accuracy).toBeLessThanOrEqual(1);
  await expect(page.getByTestId('remote-evals-chart')).toBeVisible();
  await page.getByTestId('remote-panel').screenshot({ path: '/tmp/e2e-remote-panel.png' });

  // A data-gen job on the node (built-in task): its shard lands in the training queue.
  await page.getByTestId('gen-count').fill('4');
  await page.getByTestId('btn-generate').click();
  await expect(page.getByTestId('gen-result')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('gen-result')).toContainText('4 examples in 1 shard(s)');
  await expect(page.locator('[data-testid="queue-item"][data-name$="-shard-000.jsonl"]')).toHaveCount(1, { timeout: 30_000 });

  await page.reload();
  await expect(page.getByTestId('remote-status')).toHaveAttribute('data-status', 'up', { timeout: 15_000 });
  await expect(page.locator(`[data-testid="remote-eval-row"][data-checkpoint="${checkpointId}"]`)).toHaveAttribute('data-accuracy', String(accuracy));
});
