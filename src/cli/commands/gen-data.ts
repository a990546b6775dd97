/** `gen-data --task arith|syllogism --n N --seed S --out FILE`: writes chat JSONL with canonical answers. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { CliError, flag, numberFlag, parseArgs, requiredFlag } from '../args.ts';
import { TASKS, type TaskName, generateExample } from '../../regime3/tasks.ts';

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['task', 'n', 'seed', 'out']);
  const task = requiredFlag(args, 'task');
  if (!(TASKS as readonly string[]).includes(task)) throw new CliError(`--task must be one of: ${TASKS.join(', ')}; got "${task}"`, 2);
  const n = numberFlag(args, 'n', { integer: true, min: 1, max: 10_000_000 });
  if (n === undefined) throw new CliError('missing required option --n', 2);
  const seed = numberFlag(args, 'seed', { integer: true, min: 0, max: 2 ** 32 - 1 }) ?? 0;
  const out = flag(args, 'out') ?? '-';
  const stream = out === '-' ? process.stdout : createWriteStream(out);
  for (let i = 0; i < n; i++) {
    if (!stream.write(`${JSON.stringify(generateExample(task as TaskName, seed, i))}\n`)) await once(stream, 'drain');
  }
  if (stream !== process.stdout) {
    stream.end();
    await once(stream, 'finish');
    process.stderr.write(`wrote ${n} ${task} examples (seed ${seed}) to ${out}\n`);
  }
  return 0;
}
