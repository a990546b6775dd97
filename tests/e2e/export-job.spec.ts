// Job export on the page (issue 15): a dropped file, then "Export training job" downloads a zip (built in the
// validator worker) holding axolotl.yaml, sft.py, accelerate.yaml for the GPUs asked for, README and the file's data.
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { parse } from 'yaml';
import { chatJsonl, dropFiles, item, watchErrors } from './helpers.ts';

test('Export training job downloads the job zip of the queue', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?backend=cpu');
  await expect(page.getByTestId('active-model')).toContainText(/tiny/i);
  await page.getByTestId('btn-pause').click(); // idle: the file stays queued (no training competes for the CPU)
  await dropFiles(page, [{ name: 'cluster.jsonl', text: chatJsonl(10) }]);
  await expect(item(page, 'cluster.jsonl')).toHaveAttribute('data-status', 'queued');

  await page.getByTestId('export-job-gpus').fill('2');
  const download = page.waitForEvent('download');
  await page.getByTestId('export-job').click();
  const d = await download;
  expect(d.suggestedFilename()).toMatch(/-job\.zip$/);
  const chunks: Buffer[] = [];
  for await (const c of await d.createReadStream()) chunks.push(c as Buffer);
  const zip = unzipSync(new Uint8Array(Buffer.concat(chunks)));
  const top = d.suggestedFilename().replace(/\.zip$/, '');
  const text = (p: string) => {
    expect(zip[`${top}/${p}`], p).toBeDefined();
    return new TextDecoder().decode(zip[`${top}/${p}`]);
  };

  const axolotl = parse(text('axolotl.yaml')) as { datasets: { path: string; type: string }[]; base_model: string };
  expect(axolotl.datasets).toEqual([expect.objectContaining({ path: 'data/train/1-cluster.jsonl', type: 'chat_template' })]);
  expect(parse(text('accelerate.yaml'))).toMatchObject({ distributed_type: 'MULTI_GPU', num_processes: 2 });
  expect(text('sft.py')).toContain('SFTTrainer(');
  expect(text('README.md')).toContain('axolotl train axolotl.yaml');
  const lines = text('data/train/1-cluster.jsonl').trim().split('\n').map((l) => JSON.parse(l) as { messages: { role: string }[] });
  expect(lines).toHaveLength(10);
  expect(lines[0].messages.at(-1)?.role).toBe('assistant');
  await expect(page.getByTestId('export-job-message')).toContainText('10 training');
  expect(errors).toEqual([]);
});
