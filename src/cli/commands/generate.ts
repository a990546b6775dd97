/**
 * `generate --model DIR --prompt STR [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K]
 * [--seed N] [--raw] [--backend wasm|cpu]`: the prompt goes through the folder's chat template (as one user turn,
 * thinking off) unless --raw; the generated text streams to stdout, followed by a newline unless --raw. With --raw
 * the prompt is used as given (chat markup such as <|im_start|> included) and stdout is exactly the continuation's
 * text, special tokens left out, ending at the end of the turn (<|im_end|> or <|endoftext|>) or at --max-new-tokens:
 * other tools (llama.cpp on an exported GGUF file) are compared against it. Without --backend: wasm, or cpu when the model
 * is too big for the wasm heap (a model too big for the backend asked for is refused before its weights load).
 */
import { CliError, numberFlag, parseArgs, requiredFlag } from '../args.ts';
import { loadModelFromDir } from '../../engine/node-folder.ts';
import { generate } from '../../engine/generate.ts';
import { BACKEND_USAGE, backendFlag, readConfigFromDir, startBackend } from '../backend.ts';
import { loadTokenizerFromDir } from '../../engine/data/node-io.ts';
import { eosTokenIds } from '../../engine/config/model-config.ts';
import { ValidationError } from '../../engine/errors.ts';

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'prompt', 'max-new-tokens', 'temperature', 'top-p', 'top-k', 'seed', 'backend'], ['raw']);
  if (args.positional.length) throw new CliError(`unexpected argument "${args.positional[0]}"; usage: generate --model DIR --prompt STR [--max-new-tokens N] [--temperature T] [--raw] ${BACKEND_USAGE}`, 2);
  const asked = backendFlag(args);
  const dir = requiredFlag(args, 'model');
  const prompt = requiredFlag(args, 'prompt');
  const maxNewTokens = numberFlag(args, 'max-new-tokens', { integer: true, min: 1, max: 100_000 }) ?? 64;
  const temperature = numberFlag(args, 'temperature', { min: 0, max: 100 }) ?? 0;
  const topP = numberFlag(args, 'top-p', { min: 0, max: 1 });
  const topK = numberFlag(args, 'top-k', { integer: true, min: 0 });
  const seed = numberFlag(args, 'seed', { integer: true, min: 0 }) ?? 0;
  let tokenizer;
  try {
    tokenizer = await loadTokenizerFromDir(dir);
  } catch (e) {
    if (e instanceof ValidationError) throw new CliError(e.message);
    throw e;
  }
  const text = args.flags.has('raw')
    ? prompt
    : tokenizer.renderChat([{ role: 'user', content: prompt }], { template: 'stock', addGenerationPrompt: true, enableThinking: false });
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new CliError('the prompt encodes to no tokens', 2);
  const backend = await startBackend(asked, await readConfigFromDir(dir), { kind: 'inference', tokens: ids.length + maxNewTokens });
  process.stderr.write(`backend: ${backend.reason}\n`);
  const model = await loadModelFromDir(dir);
  let printed = 0;
  const result = await generate(model, ids, {
    maxNewTokens, temperature, topP, topK, seed,
    eosTokenIds: [...new Set([...eosTokenIds(model.config), tokenizer.eosTokenId, tokenizer.padTokenId])],
    decode: (out) => tokenizer.decode(out, { skipSpecialTokens: true }),
    onToken: (_id, soFar) => {
      // stream only text that is settled (a partial UTF-8 sequence decodes to U+FFFD at the end)
      const settled = soFar.endsWith('\uFFFD') ? soFar.slice(0, soFar.lastIndexOf('\uFFFD')) : soFar;
      if (settled.length > printed) {
        process.stdout.write(settled.slice(printed));
        printed = settled.length;
      }
    },
  });
  if (result.text.length > printed) process.stdout.write(result.text.slice(printed));
  if (!args.flags.has('raw')) process.stdout.write('\n');
  process.stderr.write(`generate: ${result.ids.length} tokens in ${Math.round(result.ms)} ms, stop: ${result.stopReason}\n`);
  model.dispose();
  return 0;
}
