/**
 * `validate FILE --model DIR [--max-length N] [--template stock|chatml] [--skip-invalid-lines] [--backend wasm|cpu]`:
 * streams a JSONL file through the validator with the model folder's tokenizer and prints the report as JSON on
 * stdout. Exit 0 when valid, 1 when not; a missing file or folder is one line on stderr. Validation runs the
 * tokenizer, not the model, so --backend is only checked (accepted like the other commands' for scripts).
 */
import { CliError, flag, numberFlag, parseArgs, requiredFlag } from '../args.ts';
import { BACKEND_USAGE, backendFlag } from '../backend.ts';
import { ValidationError } from '../../engine/errors.ts';
import { loadTokenizerFromDir, openFileStream } from '../../engine/data/node-io.ts';
import { validateStream } from '../../engine/data/validate.ts';
import type { ChatTemplateKind } from '../../engine/types.ts';

/** The max_length used when none is given (the reference system trained Qwen3-0.6B at 2048). */
export const DEFAULT_MAX_LENGTH = 2048;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'max-length', 'template', 'backend'], ['skip-invalid-lines']);
  if (args.positional.length !== 1) throw new CliError(`usage: validate FILE --model DIR [--max-length N] [--template stock|chatml] [--skip-invalid-lines] ${BACKEND_USAGE}`, 2);
  backendFlag(args);
  const file = args.positional[0];
  const modelDir = requiredFlag(args, 'model');
  const maxLength = numberFlag(args, 'max-length', { integer: true, min: 1 }) ?? DEFAULT_MAX_LENGTH;
  const template = flag(args, 'template') ?? 'stock';
  if (template !== 'stock' && template !== 'chatml') throw new CliError(`--template must be stock or chatml, got "${template}"`, 2);
  try {
    const { stream, size } = openFileStream(file);
    const tokenizer = await loadTokenizerFromDir(modelDir);
    const report = await validateStream(stream, {
      tokenizer,
      maxLength,
      template: template as ChatTemplateKind,
      file,
      totalBytes: size,
      skipInvalidLines: args.flags.has('skip-invalid-lines'),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return report.valid ? 0 : 1;
  } catch (e) {
    if (e instanceof ValidationError) throw new CliError(e.message, 1);
    throw e;
  }
}
