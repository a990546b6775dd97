// Export a checkpoint as a Hugging Face folder in a zip, unzip it with fflate, check the safetensors header has the
// Hugging Face weight names, then import the zip back as a model.
import { expect, test } from '@playwright/test';
import { unzipSync, strFromU8 } from 'fflate';
import { FAST, chatJsonl, dropFiles, item, setConfig } from './helpers.ts';

test('export → unzip → HF names in the safetensors header → import back', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await setConfig(page, FAST);
  await dropFiles(page, [{ name: 'tiny.jsonl', text: chatJsonl(8) }]);
  await expect(item(page, 'tiny.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 170_000 });
  const ckpt = page.getByTestId('checkpoint-item').first();
  await expect(ckpt).toBeVisible();

  const download = page.waitForEvent('download', { timeout: 120_000 });
  await ckpt.getByTestId('btn-export').click();
  const dl = await download;
  const path = '/tmp/e2e-export.zip';
  await dl.saveAs(path);
  const { readFileSync } = await import('node:fs');
  const files = unzipSync(new Uint8Array(readFileSync(path)));
  const names = Object.keys(files).map((n) => n.split('/').pop()!);
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) expect(names).toContain(f);

  const st = files[Object.keys(files).find((n) => n.endsWith('model.safetensors'))!];
  const headerLen = Number(new DataView(st.buffer, st.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(strFromU8(st.subarray(8, 8 + headerLen))) as Record<string, { dtype: string; shape: number[] }>;
  expect(header['model.embed_tokens.weight'].shape).toEqual([151936, 64]);
  expect(header['model.layers.0.self_attn.q_proj.weight']).toBeDefined();
  expect(header['model.layers.1.mlp.down_proj.weight']).toBeDefined();
  expect(header['model.norm.weight'].shape).toEqual([64]);
  expect(Object.keys(header).some((k) => k.startsWith('optim') || k.startsWith('lora/'))).toBe(false);
  const config = JSON.parse(strFromU8(files[Object.keys(files).find((n) => n.endsWith('config.json') && !n.includes('generation') && !n.includes('tokenizer'))!]));
  expect(config.model_type).toBe('qwen3');

  const before = await page.getByTestId('model-item').count();
  await page.getByTestId('import-zip').setInputFiles(path);
  await expect(page.getByTestId('model-item')).toHaveCount(before + 1, { timeout: 120_000 });
  await expect(page.getByTestId('notice')).toContainText('Imported');

  // The same model as an unpacked folder, through the folder picker.
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync('/tmp/e2e-import-folder-');
  for (const [name, bytes] of Object.entries(files)) if (!name.endsWith('/')) writeFileSync(`${dir}/${name.split('/').pop()}`, bytes);
  await page.getByTestId('import-folder').setInputFiles(dir);
  await expect(page.getByTestId('model-item')).toHaveCount(before + 2, { timeout: 120_000 });

  // And the zip dropped on the import area.
  const zipBase64 = readFileSync(path).toString('base64');
  await page.getByTestId('import-drop').evaluate((el, b64) => {
    const dt = new DataTransfer();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], 'dropped-model.zip', { type: 'application/zip' }));
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, zipBase64);
  await expect(page.getByTestId('model-item')).toHaveCount(before + 3, { timeout: 120_000 });
});
