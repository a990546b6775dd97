// Backup and restore of the whole workspace (issue 12): train, back up to a file, clear the origin's data (DevTools
// protocol Storage.clearDataForOrigin), restore, and see the same queue, the same chart points and training resuming
// at the step it stopped at. The file's manifest hashes verify, it holds no node key, a damaged copy is refused
// with the entry named, and a restore into a workspace that is not empty asks first. The folder backup runs against
// the origin private file system standing in for the folder picker (a real FileSystemDirectoryHandle): a second run
// writes none of the binary entries again, and restoring from the folder (agreed to) gives the same page.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { FAST, chatJsonl, dropFiles, openTab, setConfig, shownStep, waitForStepAtLeast, watchErrors } from './helpers.ts';
import { tarEntries } from '../../src/store/tar.ts';
import type { BackupManifest } from '../../src/store/backup-format.ts';

/** Rows of one object store of the page's database, read with plain IndexedDB. */
async function rows(page: Page, store: string): Promise<Record<string, unknown>[]> {
  return page.evaluate(
    (s) =>
      new Promise<Record<string, unknown>[]>((resolve, reject) => {
        const open = indexedDB.open('training-workbench');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const req = open.result.transaction(s).objectStore(s).getAll();
          req.onsuccess = () => (resolve(req.result), open.result.close());
          req.onerror = () => reject(req.error);
        };
      }),
    store,
  );
}

/** What the person sees and what the chart draws: queue rows (name, status, progress), loss points, chart size. */
async function snapshot(page: Page) {
  const queue = (await rows(page, 'queue')).map((q) => ({ id: q.id, name: q.name, status: q.status, progress: q.progress }));
  const points = (await rows(page, 'metrics')).map((m) => [m.step, m.loss]);
  const items = await page.getByTestId('queue-item').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-name')}|${e.getAttribute('data-status')}|${e.querySelector('[data-testid="item-steps"]')?.textContent?.trim()}`));
  return { queue, points, items, chart: await page.getByTestId('loss-chart').getAttribute('data-points') };
}

test('backup to a file, clear the origin, restore: same queue, same chart, training resumes at the same step', async ({ page, context, baseURL }) => {
  const dialogs: string[] = [];
  let agree = false;
  const errors = watchErrors(page);
  page.on('dialog', (d) => (dialogs.push(d.message()), void (agree ? d.accept() : d.dismiss())));
  await page.addInitScript(() => {
    (window as unknown as { showDirectoryPicker(): Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
      (await navigator.storage.getDirectory()).getDirectoryHandle('backup-folder', { create: true });
  });
  await page.goto('/?backend=wasm');
  await page.evaluate(() => localStorage.setItem('workbench.remote-node.v1', JSON.stringify({ url: '', adminKey: 'E2E-NODE-KEY-SECRET', readKey: '' })));
  await setConfig(page, FAST);
  await dropFiles(page, [{ name: 'kept.jsonl', text: chatJsonl(60, 2) }]);
  await waitForStepAtLeast(page, 3);
  await page.getByTestId('btn-stop').click();
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  const stoppedAt = await shownStep(page);
  await expect(page.locator(`[data-testid="checkpoint-item"][data-step="${stoppedAt}"]`).first()).toBeVisible();
  const before = await snapshot(page);
  expect(before.points.length).toBeGreaterThan(0);

  await openTab(page, 'storage');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('btn-backup').click()]);
  // A copy of our own: Playwright's artifact folder is shared with any other run using the same outputDir.
  const path = join(mkdtempSync(join(tmpdir(), 'e2e-backup-')), download.suggestedFilename());
  await download.saveAs(path);
  const bytes = readFileSync(path);
  expect(download.suggestedFilename()).toMatch(/^workbench-backup-.*\.tar$/);
  await expect(page.getByTestId('backup-last')).not.toHaveAttribute('data-at', '');
  // The manifest's SHA-256 of every entry matches the archive; no node key is in it.
  const archive = new Blob([bytes]);
  let manifest: BackupManifest | undefined;
  const hashes = new Map<string, string>();
  for await (const e of tarEntries(archive)) {
    const data = bytes.subarray(e.offset, e.offset + e.size);
    if (e.name === 'manifest.json') manifest = JSON.parse(data.toString('utf8')) as BackupManifest;
    else hashes.set(e.name, createHash('sha256').update(data).digest('hex'));
  }
  expect(manifest!.entries.map((e) => [e.name, e.sha256])).toEqual([...hashes]);
  expect(bytes.includes('E2E-NODE-KEY-SECRET')).toBe(false);

  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.clearDataForOrigin', { origin: new URL(baseURL!).origin, storageTypes: 'all' });
  await page.reload();
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', '0');
  await expect(page.getByTestId('queue-item')).toHaveCount(0);

  // A damaged copy (one byte of the queue's page flipped) is refused, naming the entry; nothing is written.
  const queuePage = manifest!.tables.queue.pages[0];
  const damaged = Buffer.from(bytes);
  for await (const e of tarEntries(archive)) if (e.name === queuePage) damaged[e.offset + 5] ^= 0x01;
  const damagedPath = test.info().outputPath('damaged.tar');
  writeFileSync(damagedPath, damaged);
  await page.getByTestId('restore-input').setInputFiles(damagedPath);
  await expect(page.getByTestId('backup-message')).toContainText(`entry "${queuePage}"`);
  await expect(page.getByTestId('queue-item')).toHaveCount(0);

  // The real one restores into the empty profile without asking, and the page reloads on it.
  const reloaded = page.waitForEvent('load', { timeout: 60_000 });
  await page.getByTestId('restore-input').setInputFiles(path);
  await reloaded;
  await expect(page.getByTestId('queue-item')).toHaveCount(before.items.length);
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', before.chart!);
  expect(await snapshot(page)).toEqual(before);
  expect(dialogs).toEqual([]);
  await expect(page.getByTestId('daemon-state')).toHaveAttribute('data-state', 'stopped');

  // Into a folder: the second run writes none of the binaries again (file contents, checkpoint chunks).
  const folderRun = async (after = '') => {
    await page.getByTestId('btn-backup-folder').click();
    let text = '';
    const done = async () => (text = (await page.getByTestId('backup-message').textContent({ timeout: 1000 }).catch(() => '')) ?? '') !== after && /already there/.test(text);
    await expect.poll(done).toBe(true);
    const m = /(\d+) entries written, (\d+) already there/.exec(text)!;
    return { text, written: Number(m[1]), reused: Number(m[2]) };
  };
  const first = await folderRun();
  expect(first.reused).toBe(0);
  const second = await folderRun(first.text);
  const bins = manifest!.entries.filter((e) => e.name.startsWith('bin/')).length;
  expect(second.reused).toBeGreaterThanOrEqual(bins);
  expect(second.written).toBeLessThan(first.written - bins + 1);
  // Restoring from it into this (not empty) workspace asks; agreed, the page comes back the same.
  agree = true;
  const reloadedFromFolder = page.waitForEvent('load', { timeout: 60_000 });
  await page.getByTestId('btn-restore-folder').click();
  await reloadedFromFolder;
  agree = false;
  expect(dialogs).toEqual([expect.stringContaining('This workspace is not empty')]);
  await expect(page.getByTestId('queue-item')).toHaveCount(before.items.length);
  expect(await snapshot(page)).toEqual(before);

  await page.getByTestId('btn-resume').click();
  await waitForStepAtLeast(page, stoppedAt + 1);
  const runs = await rows(page, 'runs');
  expect(runs.at(-1)!.startStep).toBe(stoppedAt); // resumed from the checkpoint the backup held, not from zero
  const steps = (await rows(page, 'metrics')).map((m) => m.step as number);
  expect(steps.slice(0, before.points.length)).toEqual(before.points.map((p) => p[0]));

  // Into a workspace that is not empty, a restore asks first; declined, nothing changes.
  await page.getByTestId('restore-input').setInputFiles(path);
  await expect(page.getByTestId('backup-message')).toContainText('Nothing was restored', { timeout: 60_000 });
  expect(dialogs).toEqual([expect.stringContaining('This workspace is not empty'), expect.stringContaining('This workspace is not empty')]);
  expect((await rows(page, 'runs')).length).toBe(runs.length);
  expect(errors.filter((e) => !/favicon/.test(e))).toEqual([]);
});
