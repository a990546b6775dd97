/**
 * `export-gguf --model DIR --out FILE.gguf [--type f32|f16|q8_0] [--name NAME]`: writes the model folder as a GGUF
 * file for llama.cpp, Ollama and LM Studio (architecture qwen3; 1-D tensors stay F32; default type f16), streamed
 * tensor by tensor, and an Ollama `Modelfile` beside it (`ollama create NAME -f Modelfile`). Prints the file's path.
 */
import { basename, dirname, resolve } from 'node:path';
import { CliError, flag, parseArgs, requiredFlag } from '../args.ts';
import { nodeFolder } from '../../engine/node-folder.ts';
import { ggufFromFolder } from '../../engine/gguf/from-folder.ts';
import { GGUF_FILE_TYPES, ollamaModelfile, type GgufFileType } from '../../engine/gguf/qwen3-gguf.ts';
import { ggmlTypeName } from '../../engine/gguf/writer.ts';
import { CheckpointError, ConfigError } from '../../engine/errors.ts';

const USAGE = 'usage: export-gguf --model DIR --out FILE.gguf [--type f32|f16|q8_0] [--name NAME]';

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'out', 'type', 'name']);
  if (args.positional.length) throw new CliError(`unexpected argument "${args.positional[0]}"; ${USAGE}`, 2);
  const dir = requiredFlag(args, 'model');
  const out = resolve(requiredFlag(args, 'out'));
  const type = (flag(args, 'type') ?? 'f16').toLowerCase() as GgufFileType;
  if (!GGUF_FILE_TYPES.includes(type)) throw new CliError(`--type must be one of ${GGUF_FILE_TYPES.join(', ')}, not "${flag(args, 'type')}"`, 2);
  if (!out.endsWith('.gguf')) throw new CliError(`--out must name a .gguf file, not "${out}"`, 2);
  const name = flag(args, 'name') ?? basename(resolve(dir));
  const t0 = Date.now();
  let gguf;
  try {
    gguf = await ggufFromFolder(nodeFolder(dir), type, name);
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof ConfigError) throw new CliError(`model folder ${dir}: ${e.message}`);
    throw e;
  }
  const target = nodeFolder(dirname(out));
  let bytes = 0;
  async function* counted() {
    for await (const p of gguf!.pieces) {
      bytes += p.length;
      yield p;
    }
  }
  await target.writeStream!(basename(out), counted());
  await target.write('Modelfile', new TextEncoder().encode(ollamaModelfile(basename(out))));
  const types = new Map<string, number>();
  for (const t of gguf.tensors) types.set(ggmlTypeName(t.type), (types.get(ggmlTypeName(t.type)) ?? 0) + 1);
  process.stderr.write(`export-gguf: ${gguf.tensors.length} tensors (${[...types].map(([k, v]) => `${v} ${k}`).join(', ')}), ${(bytes / 1e6).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s; Modelfile beside it\n`);
  process.stdout.write(`${out}\n`);
  return 0;
}
