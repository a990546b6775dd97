// Export GGUF from the page's path: a LoRA run trained by the daemon's loop into a (fake) IndexedDB store exports,
// through the page's API (format 'gguf'), as a zip of one GGUF file and an Ollama Modelfile whose weights are the
// merged model's (the same bytes as the merged safetensors export, F32) with the GGUF names, and as Q8_0.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { scratchDbs } from './scratch-db.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { readSafetensors } from '../../src/engine/safetensors.ts';
import { ggufTensorName } from '../../src/engine/gguf/qwen3-gguf.ts';
import { GgmlType } from '../../src/engine/gguf/writer.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

const freshDb = scratchDbs('gguf-ckpt');
let folder: MemFolder;
let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
  dir = mkdtempSync(join(tmpdir(), 'gguf-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Export GGUF of a stored checkpoint', () => {
  it('a LoRA checkpoint: the GGUF holds the merged weights, with a Modelfile beside it', async () => {
    const db = freshDb();
    const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 5 });
    await loop.recover();
    const cfg = await updateTrainConfig(db, {
      profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0,
      learningRate: 1e-2, bucketByLength: false, 'lora.enabled': true, 'lora.rank': 4, 'lora.alpha': 8, 'lora.targetModules': ['q_proj', 'v_proj'],
    });
    expect(cfg.errors).toEqual([]);
    const r = await new Queue(db).add('f.jsonl', new Blob([chatJsonl(6)]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer: await loadTokenizerFrom(folder), template: 'stock' })).toBe('queued');
    expect(await loop.runUntilIdle()).toBe('idle');
    loop.dispose();
    const [ckpt] = await new CheckpointStore(db).list('tiny');
    expect(ckpt.tensors.some((t) => t.name.startsWith('lora/'))).toBe(true);
    const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder });

    const merged = readSafetensors(unzipSync(new Uint8Array(await (await api.exportCheckpoint(ckpt.id)).zip!.arrayBuffer()))['model.safetensors']);
    const base = readSafetensors((await folder.read('model.safetensors'))!);
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(merged.tensors.get(q)!.data).not.toEqual(base.tensors.get(q)!.data); // the adapter is in the merged weights

    for (const type of ['f32', 'q8_0'] as const) {
      const exp = await api.exportCheckpoint(ckpt.id, { format: 'gguf', ggufType: type });
      const name = `tiny-step${ckpt.step}-${type}.gguf`;
      expect([exp.files, exp.fileName]).toEqual([[name, 'Modelfile'], `tiny-step${ckpt.step}-${type}-gguf.zip`]);
      const files = unzipSync(new Uint8Array(await exp.zip!.arrayBuffer()));
      expect(new TextDecoder().decode(files.Modelfile)).toContain(`FROM ./${name}\n`);
      const path = join(dir, name);
      writeFileSync(path, files[name]);
      const parsed = await gguf(path, { allowLocalFile: true });
      expect(parsed.metadata['general.architecture']).toBe('qwen3');
      const byName = new Map(parsed.tensorInfos.map((t) => [t.name, t]));
      expect(byName.size).toBe([...merged.tensors.keys()].length);
      for (const [hf, t] of merged.tensors) {
        const info = byName.get(ggufTensorName(hf))!;
        expect(info.shape.map(Number)).toEqual([...t.shape].reverse());
        expect(info.dtype).toBe(type === 'f32' || t.shape.length === 1 ? GgmlType.F32 : GgmlType.Q8_0);
        if (info.dtype !== GgmlType.F32) continue;
        const at = Number(parsed.tensorDataOffset + info.offset);
        const bytes = files[name].slice(at, at + 4 * t.data.length);
        expect(new Float32Array(bytes.buffer)).toEqual(t.data); // the merged weights, exactly
      }
    }
  });
});
