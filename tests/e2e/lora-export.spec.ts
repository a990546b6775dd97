// LoRA work kept in the page: a checkpoint trained with LoRA offers "merged model" / "LoRA adapter (PEFT)" on export;
// the adapter choice downloads a PEFT folder (adapter_config.json + adapter_model.safetensors with PEFT names);
// Export GGUF downloads the merged model as a GGUF file with an Ollama Modelfile.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { unzipSync, strFromU8 } from 'fflate';
import { FAST, chatJsonl, dropFiles, item, setConfig } from './helpers.ts';

test('a LoRA checkpoint exports its PEFT adapter when asked', async ({ page }) => {
  await page.goto('/?backend=wasm');
  await setConfig(page, { ...FAST, 'lora.enabled': true });
  await dropFiles(page, [{ name: 'lora.jsonl', text: chatJsonl(8) }]);
  await expect(item(page, 'lora.jsonl')).toHaveAttribute('data-status', 'completed', { timeout: 170_000 });
  const ckpt = page.getByTestId('checkpoint-item').first();
  const format = ckpt.getByTestId('export-format');
  await expect(format).toHaveValue('merged');
  await format.selectOption('adapter');

  const download = page.waitForEvent('download', { timeout: 120_000 });
  await ckpt.getByTestId('btn-export').click();
  const dl = await download;
  expect(dl.suggestedFilename()).toMatch(/-lora\.zip$/);
  const path = '/tmp/e2e-lora-adapter.zip';
  await dl.saveAs(path);
  const files = unzipSync(new Uint8Array(readFileSync(path)));
  expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const config = JSON.parse(strFromU8(files['adapter_config.json']));
  expect(config).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
  const st = files['adapter_model.safetensors'];
  const headerLen = Number(new DataView(st.buffer, st.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(strFromU8(st.subarray(8, 8 + headerLen))) as Record<string, { shape: number[] }>;
  expect(header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'].shape).toEqual([8, 64]);
  expect(header['base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight'].shape[1]).toBe(8);
  await expect(page.getByTestId('notice')).toContainText('adapter_model.safetensors');

  // Export GGUF (Q8_0): the merged model as one GGUF file and an Ollama Modelfile, built in the validator worker
  await ckpt.getByTestId('gguf-type').selectOption('q8_0');
  const ggufDownload = page.waitForEvent('download', { timeout: 120_000 });
  await ckpt.getByTestId('btn-export-gguf').click();
  const gz = await ggufDownload;
  expect(gz.suggestedFilename()).toMatch(/-q8_0-gguf\.zip$/);
  await gz.saveAs('/tmp/e2e-gguf.zip');
  const gfiles = unzipSync(new Uint8Array(readFileSync('/tmp/e2e-gguf.zip')));
  const ggufName = Object.keys(gfiles).find((n) => n.endsWith('-q8_0.gguf'))!;
  expect(Object.keys(gfiles).sort()).toEqual([ggufName, 'Modelfile'].sort());
  expect(strFromU8(gfiles.Modelfile)).toContain(`FROM ./${ggufName}`);
  const g = new DataView(gfiles[ggufName].buffer, gfiles[ggufName].byteOffset);
  expect([strFromU8(gfiles[ggufName].subarray(0, 4)), g.getUint32(4, true), Number(g.getBigUint64(8, true))]).toEqual(['GGUF', 3, 2 + 2 * 11]); // magic, version, tensors (tied: no output)
  expect(strFromU8(gfiles[ggufName].subarray(0, 4096))).toContain('qwen3.attention.head_count_kv');
});
