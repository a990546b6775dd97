// The retention panel in the page: checkpoint manifests of the active model are put straight into the page's
// IndexedDB (two of them old and far over any quota-sized budget, one new), the page is reloaded, and the dry run
// lists the two old ones as what would go, with why, and keeps the newest as the latest, deleting nothing.
import { expect, test } from '@playwright/test';
import { openTab } from './helpers.ts';

test('the retention panel previews what would go and why the rest stays, without deleting', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await openTab(page, 'storage');
  await expect(page.getByTestId('retention-summary')).toBeVisible(); // the bundled model is active
  const H = 3_600_000;
  const ids = await page.evaluate(async (H) => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const q = indexedDB.open('training-workbench');
      q.onsuccess = () => res(q.result);
      q.onerror = () => rej(q.error);
    });
    const all = <T,>(store: string) =>
      new Promise<T[]>((res, rej) => {
        const q = db.transaction(store).objectStore(store).getAll();
        q.onsuccess = () => res(q.result as T[]);
        q.onerror = () => rej(q.error);
      });
    const model = (await all<{ id: string; active: number }>('models')).find((m) => m.active === 1)!;
    const now = Date.now();
    const rows = [300, 200, 1].map((hoursOld, i) => ({
      id: `${model.id}@e2e-${i}`, modelId: model.id, step: (i + 1) * 10, createdAt: now - hoursOld * H, chunkCount: 0, chunkBytes: 1,
      bytes: 1e15, pinned: false, tensors: [], trainerState: {}, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '', reason: 'interval',
    }));
    await new Promise<void>((res, rej) => {
      const tx = db.transaction('checkpoints', 'readwrite');
      for (const r of rows) tx.objectStore('checkpoints').put(r);
      tx.oncomplete = () => res();
      tx.onerror = () => rej(tx.error);
    });
    db.close();
    return rows.map((r) => r.id);
  }, H);
  await page.reload();
  const summary = page.getByTestId('retention-summary');
  await expect(summary).toHaveAttribute('data-delete', '2');
  await expect(summary).toHaveAttribute('data-keep', '1');
  const gone = page.getByTestId('retention-delete-item');
  await expect(gone.nth(0)).toHaveAttribute('data-id', ids[0]); // oldest first
  await expect(gone.nth(1)).toHaveAttribute('data-id', ids[1]);
  await expect(gone.nth(0).getByTestId('retention-why')).toContainText('over the');
  await expect(gone.nth(0).getByTestId('retention-why')).toContainText('older than 36 hours');
  const kept = page.getByTestId('retention-keep-item');
  await expect(kept).toHaveAttribute('data-id', ids[2]);
  await expect(kept.getByTestId('retention-reasons')).toContainText('the latest checkpoint of the model');
  await expect(kept.getByTestId('retention-reasons')).toContainText('younger than 36 hours');
  // A dry run: every checkpoint is still listed.
  await expect(page.getByTestId('checkpoint-item')).toHaveCount(3);
  await page.getByTestId('retention-preview').screenshot({ path: '/tmp/e2e-retention.png' });
});
