// Profiles in the workbench: the preview of a queued example (raw row, messages, template text, tokens coloured
// trained / masked) and, with the regime3 profile, the preview in codes and the regime-3 pane (codes, decoded
// form, token counts). The daemon is paused first so the file stays queued.
import { expect, test } from '@playwright/test';
import { FAST, dropFiles, item, openTab, setConfig, watchErrors } from './helpers.ts';
import { generateExample } from '../../src/regime3/tasks.ts';

test('profile preview of a queued example, then regime3: answers in codes and the regime-3 pane', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await page.getByTestId('btn-pause').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'paused');

  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify(generateExample('arith', 7, i)));
  await dropFiles(page, [{ name: 'arith.jsonl', text: rows.join('\n') + '\n' }]);
  await expect(item(page, 'arith.jsonl')).toHaveAttribute('data-status', 'queued');

  await openTab(page, 'data');
  const preview = page.getByTestId('profile-preview');
  await expect(preview.getByTestId('preview-token').first()).toBeVisible();
  const trained = await preview.locator('[data-testid="preview-token"][data-trained="1"]').count();
  const masked = await preview.locator('[data-testid="preview-token"][data-trained="0"]').count();
  expect(trained).toBeGreaterThan(0);
  expect(masked).toBeGreaterThan(trained); // the prompt and the template's headers are masked
  await expect(preview.getByTestId('preview-counts')).toHaveAttribute('data-trained', String(trained));
  await expect(preview.getByTestId('preview-template')).toContainText('<|im_start|>assistant');

  await setConfig(page, { ...FAST, profile: 'regime3' });
  await openTab(page, 'data');
  await expect(preview.getByTestId('preview-template')).toContainText('<<ANS_START>>');
  const pane = page.getByTestId('regime3-pane');
  await expect(pane.getByTestId('regime3-message')).toContainText('no regime-3 codebook yet');

  // Training the file builds the model's codebook once; the pane then encodes with it and lists it.
  await page.getByTestId('btn-resume').click();
  await expect(pane.getByTestId('codebook-row').first()).toBeAttached({ timeout: 120_000 }); // in a collapsed <details>
  await pane.getByTestId('regime3-input').fill('(add 1.50 (mul +2 3))');
  await expect(pane.getByTestId('regime3-decoded')).toHaveText('(add 1.5 (mul 2 3))');
  await expect(pane.getByTestId('regime3-codes')).toContainText('<E');
  await expect(pane.getByTestId('regime3-ratio')).toHaveAttribute('data-ratio', /\d/);
  await page.screenshot({ path: '/tmp/e2e-profiles.png', fullPage: true });
  expect(errors).toEqual([]);
});
