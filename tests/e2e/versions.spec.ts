// Named versions in the page: a checkpoint saved as v001 with title, tags and notes shows in the model's lineage; it
// cannot be deleted by hand; Restore is the rollback that branches (asked first); Export downloads its checkpoint.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, item, setConfig, watchErrors } from './helpers.ts';

test('a checkpoint saved as a named version is listed, protected, restorable as a branch and exportable', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST); // a checkpoint every 4 steps
  await dropFiles(page, [{ name: 'a.jsonl', text: chatJsonl(20, 1) }]);
  await expect(item(page, 'a.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 120_000 });
  const four = page.locator('[data-testid="checkpoint-item"][data-step="4"]');
  await expect(four).toHaveCount(1);

  await four.getByTestId('btn-save-version').click();
  await four.getByTestId('version-title').fill('after arith curriculum');
  await four.getByTestId('version-tags').fill('arith, curriculum');
  await four.getByTestId('version-notes').fill('the first four steps');
  await four.getByTestId('btn-version-save').click();
  const v = page.locator('[data-testid="model-item"] [data-testid="version-item"][data-name="v001"]');
  await expect(v).toContainText('after arith curriculum');
  await expect(v).toContainText('curriculum');
  await expect(v).toContainText('the first four steps');
  await expect(v).toHaveAttribute('data-checkpoint', (await four.getAttribute('data-id'))!);
  await expect(page.getByTestId('notice')).toContainText('Saved step 4 as v001');

  // Deleting its checkpoint by hand is refused, naming the version.
  await four.getByTestId('btn-delete-checkpoint').click();
  await expect(page.getByTestId('notice')).toContainText('named version v001');
  await expect(four).toHaveCount(1);

  // Export: the checkpoint's Hugging Face folder as a zip.
  const download = page.waitForEvent('download');
  await v.getByTestId('btn-version-export').click();
  expect((await download).suggestedFilename()).toMatch(/\.zip$/);

  // Restore: asked first, as a rollback that branches.
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.accept();
  });
  await v.getByTestId('btn-version-restore').click();
  await expect.poll(() => asked).toContain('Training continues from step 4 of');
  await expect(four).toContainText('training continues here');
  expect(errors).toEqual([]);
});
