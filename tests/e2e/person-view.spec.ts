// Issue 14, the person's view (one page through every step): an accepted file with duplicates shows its warnings,
// token statistics, length histogram and first rows through the profile; when the queue finishes a browser
// notification is raised (permission granted to the context; Notification wrapped to record what was made) and the
// tab title says so; the keyboard shortcuts pause and resume; metrics export as CSV and JSON.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, openTab, setConfig, watchErrors } from './helpers.ts';

test('data before training, a notification when the queue finishes, shortcuts, exports', async ({ page, context, baseURL }) => {
  const errors = watchErrors(page);
  await context.grantPermissions(['notifications'], { origin: baseURL });
  await page.addInitScript(() => {
    const Real = window.Notification;
    const made: { title: string; body?: string; tag?: string }[] = [];
    (window as unknown as { __notifications: typeof made }).__notifications = made;
    class Recorded extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        made.push({ title, body: options?.body, tag: options?.tag });
      }
    }
    Object.defineProperty(window, 'Notification', { value: Recorded, configurable: true, writable: true });
  });
  await page.goto('/?backend=wasm');
  await expect(page.getByTestId('notify-settings')).toHaveAttribute('data-permission', 'granted');
  await setConfig(page, FAST);

  // 6 lines, the last 2 repeating the first 2: 2 duplicates, a third of the file (3 steps of 2 to train).
  const base = chatJsonl(4).trim().split('\n');
  await dropFiles(page, [{ name: 'dups.jsonl', text: [...base, ...base.slice(0, 2)].join('\n') + '\n' }]);
  const it = item(page, 'dups.jsonl');
  await expect(it).toHaveAttribute('data-status', /queued|processing|completed/, { timeout: 60_000 });
  const dup = it.getByTestId('data-warnings').locator('[data-testid="data-warning"][data-kind="duplicates"]');
  await expect(dup).toHaveAttribute('data-count', '2');
  await expect(dup).toHaveAttribute('data-percent', '33.33');
  await expect(dup).toContainText('lines 5, 6');
  const stats = it.getByTestId('token-stats');
  await expect(stats).toHaveAttribute('data-examples', '6');
  await expect(stats).toHaveAttribute('data-max-length', '48');
  const total = Number(await stats.getAttribute('data-total'));
  const trained = Number(await stats.getAttribute('data-trained'));
  expect(total).toBeGreaterThan(6 * 5);
  expect(trained).toBeGreaterThanOrEqual(6);
  expect(trained).toBeLessThan(total);
  await expect(it.getByTestId('length-histogram').locator('rect')).not.toHaveCount(0);
  await it.getByTestId('btn-preview-rows').click();
  await expect(it.getByTestId('preview-row')).toHaveCount(3);
  await expect(it.getByTestId('preview-row').first()).toHaveAttribute('data-line', '1');
  await expect(it.getByTestId('preview-row').first()).toContainText('add 0 0');

  // The queue finishes: one notification says so, the panel lists it, the tab title says done.
  await expect(it).toHaveAttribute('data-status', 'completed', { timeout: 150_000 });
  await expect.poll(() => page.evaluate(() => (window as unknown as { __notifications: { title: string }[] }).__notifications.map((n) => n.title)), { timeout: 30_000 }).toContain('Queue finished');
  await expect(page.getByTestId('notify-event').filter({ hasText: 'Queue finished' })).toHaveAttribute('data-kind', 'queue_finished');
  await expect(page).toHaveTitle(/^✓ done · step \d+/);
  // Every panel stays mounted: the Settings tab shows the same panel, and the Training tab keeps its scroll position.
  await page.mouse.wheel(0, 400);
  await expect.poll(() => page.evaluate(() => scrollY)).toBeGreaterThan(0);
  const y = await page.evaluate(() => scrollY);
  await openTab(page, 'settings');
  await expect(page.getByTestId('notify-event').first()).toBeVisible();
  await openTab(page, 'training');
  expect(await page.evaluate(() => scrollY)).toBe(y);

  // Shortcuts: ? lists them, Escape closes; space pauses the idle daemon and resumes it; never from a field.
  await page.locator('body').click({ position: { x: 2, y: 2 } });
  await page.keyboard.press('?');
  await expect(page.getByTestId('shortcuts-help')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('shortcuts-help')).toHaveCount(0);
  await page.keyboard.press(' ');
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused', { timeout: 30_000 });
  await expect(page).toHaveTitle(/^⏸ paused/);
  await page.getByTestId('priority-select').focus();
  await page.keyboard.press('s');
  await page.locator('body').click({ position: { x: 2, y: 2 } });
  await page.keyboard.press(' ');
  await expect(page.getByTestId('daemon-state')).not.toHaveAttribute('data-state', /paused|stopped/, { timeout: 30_000 });

  // Exports: the metrics as CSV (header and one row per logged step) and as JSON.
  await openTab(page, 'settings');
  const csv = page.waitForEvent('download');
  await page.getByTestId('export-metrics-csv').click();
  const csvText = await readDownload(await csv);
  const lines = csvText.trim().split('\r\n');
  expect(lines[0]).toBe('step,time,item_id,file_step,loss,lr,grad_norm,tokens,ms,tokens_per_second,skipped');
  expect(lines.length).toBeGreaterThan(2);
  expect(lines[1]).toMatch(/^1,\d{4}-\d\d-\d\dT/);
  const json = page.waitForEvent('download');
  await page.getByTestId('export-metrics-json').click();
  const rows = JSON.parse(await readDownload(await json)) as { step: number }[];
  expect(rows.length).toBe(lines.length - 1);
  expect(errors.filter((e) => !/favicon/.test(e))).toEqual([]);
});

async function readDownload(d: import('@playwright/test').Download): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await d.createReadStream()) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}
