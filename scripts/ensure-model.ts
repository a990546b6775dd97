/**
 * Makes the default model folder public/models/qwen3-tiny/ (make-model --preset tiny --seed 0) when its
 * model.safetensors is missing, so a fresh clone can start and test. Progress goes to stderr only.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeModel } from '../src/cli/commands/make-model.ts';
import { initNodeBackend } from '../src/engine/backend-node.ts';

const dir = fileURLToPath(new URL('../public/models/qwen3-tiny/', import.meta.url));

if (existsSync(dir + 'model.safetensors')) {
  process.stderr.write(`ensure-model: ${dir} is present\n`);
} else {
  process.stderr.write(`ensure-model: creating ${dir} (preset tiny, seed 0)...\n`);
  const t0 = Date.now();
  await initNodeBackend(['wasm', 'cpu']);
  const files = await makeModel('tiny', 0, dir);
  process.stderr.write(`ensure-model: wrote ${files.length} files in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
