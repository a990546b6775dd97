/**
 * `logits --model DIR (--text STR | --ids 1,2,3) --out FILE.npy [--backend wasm|cpu]`: float32 logits of every
 * position, shape [T, vocab], as NumPy .npy; prints the file path on stdout. --ids needs no tokenizer files.
 * Without --backend: wasm, or cpu when the model is too big for the wasm heap (a model too big for the backend
 * asked for is refused before its weights load).
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { CliError, flag, parseArgs, requiredFlag } from '../args.ts';
import { loadModelFromDir } from '../../engine/node-folder.ts';
import { singleSequence } from '../../engine/model.ts';
import { writeNpy } from '../../engine/npy.ts';
import { BACKEND_USAGE, backendFlag, readConfigFromDir, startBackend } from '../backend.ts';
import { loadTokenizerFromDir } from '../../engine/data/node-io.ts';

/** Positions per LM-head chunk, so full-vocabulary logits never sit in the wasm heap at once. */
const CHUNK = 64;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'text', 'ids', 'out', 'backend']);
  if (args.positional.length) throw new CliError(`unexpected argument "${args.positional[0]}"; usage: logits --model DIR (--text STR | --ids 1,2,3) --out FILE.npy ${BACKEND_USAGE}`, 2);
  const asked = backendFlag(args);
  const dir = requiredFlag(args, 'model');
  const out = requiredFlag(args, 'out');
  const text = flag(args, 'text'), idsArg = flag(args, 'ids');
  if ((text === undefined) === (idsArg === undefined)) throw new CliError('give exactly one of --text or --ids', 2);
  let ids: number[];
  if (idsArg !== undefined) {
    ids = idsArg.replace(/^\s*\[|\]\s*$/g, '').split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
    if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0)) throw new CliError(`--ids must be comma-separated non-negative integers (e.g. 1,2,3), got "${idsArg}"`, 2);
  } else {
    ids = (await loadTokenizerFromDir(dir)).encode(text!);
    if (ids.length === 0) throw new CliError('--text encodes to no tokens', 2);
  }
  const config = await readConfigFromDir(dir);
  const V = config.vocabSize;
  const bad = ids.find((i) => i >= V);
  if (bad !== undefined) throw new CliError(`token id ${bad} is outside the model's vocabulary of ${V}`, 2);
  const backend = await startBackend(asked, config, { kind: 'inference', tokens: ids.length });
  process.stderr.write(`backend: ${backend.reason}\n`);
  const model = await loadModelFromDir(dir);
  const T = ids.length;
  const result = new Float32Array(T * V);
  const x = singleSequence(ids);
  const h = tf.tidy(() => tf.reshape(model.hidden(x), [T, model.config.hiddenSize]));
  for (let s = 0; s < T; s += CHUNK) {
    const n = Math.min(CHUNK, T - s);
    const part = tf.tidy(() => tf.matMul(tf.slice(h, [s, 0], [n, -1]), model.headWeight()));
    result.set((await part.data()) as Float32Array, s * V);
    part.dispose();
  }
  tf.dispose([h, x.inputIds, x.positionIds, x.segmentIds]);
  model.dispose();
  await writeFile(out, writeNpy({ shape: [T, V], data: result }));
  process.stdout.write(`${out}\n`);
  return 0;
}
