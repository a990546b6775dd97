// Evolution snapshots (issue 13): with the schedule "1,2,3" and one prompt the person chose, the viewer shows that
// prompt's answer at three steps (each after the first with its diff) and the table of all, sortable and filterable.
import { expect, test } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, openTab, setConfig, watchErrors } from './helpers.ts';

test('the evolution viewer shows one prompt at three steps', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=wasm');
  await setConfig(page, { ...FAST, valFraction: '0.1', evolutionPrompts: '1', evolutionSchedule: '1,2,3' });
  // The person chooses the prompt before training: the snapshots ask it, not a drawn held-out chat.
  await openTab(page, 'evaluation');
  const view = page.getByTestId('evolution-view');
  await view.getByTestId('evolution-choose').locator('summary').click();
  await view.getByTestId('evolution-prompts-input').fill('add 3 4');
  await view.getByTestId('btn-evolution-prompts-save').click();
  await expect(view.getByTestId('evolution-prompts-note')).toContainText('1 prompt saved');
  await dropFiles(page, [{ name: 'evolution.jsonl', text: chatJsonl(24) }]);
  await openTab(page, 'evaluation');

  const steps = view.getByTestId('evolution-step');
  await expect(steps).toHaveCount(3, { timeout: 120_000 });
  expect(await steps.evaluateAll((els) => els.map((e) => e.getAttribute('data-step')))).toEqual(['1', '2', '3']);
  await expect(view.getByTestId('evolution-prompt').locator('option')).toHaveCount(1);
  await expect(view.getByTestId('evolution-prompt').locator('option')).toHaveText('1. add 3 4');

  // The table: one row a snapshot; clicking "step" (sorted ascending) puts the latest first; a filter nothing matches empties it.
  const rows = view.getByTestId('evolution-row');
  await expect(rows).toHaveCount(3);
  await view.getByRole('button', { name: /^step/ }).click();
  await expect(rows.first()).toHaveAttribute('data-step', '3');
  await view.getByTestId('evolution-filter').fill('no answer says this');
  await expect(rows).toHaveCount(0);
  await view.screenshot({ path: '/tmp/e2e-evolution.png' });
  expect(errors).toEqual([]);
});
