/**
 * Command-line entry (`npm run cli -- <command> ...`). Each command lives in src/cli/commands/<name>.ts
 * and exports `run(argv: string[]): Promise<number>` (the exit code). stdout carries only a command's
 * output; progress and notices go to stderr.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { CliError } from './args.ts';

const here = dirname(fileURLToPath(import.meta.url));

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const known = listCommands();
  if (!command || command === '--help' || command === 'help') {
    process.stderr.write(`usage: npm run cli -- <command> [options]\ncommands: ${known.join(', ')}\n`);
    return command ? 0 : 2;
  }
  if (!known.includes(command)) {
    process.stderr.write(`error: unknown command "${command}"; expected one of: ${known.join(', ')}\n`);
    return 2;
  }
  const mod = (await import(join(here, 'commands', `${command}.ts`))) as { run(a: string[]): Promise<number> };
  return mod.run(rest);
}

function listCommands(): string[] {
  const names = ['make-model', 'validate', 'train', 'logits', 'generate', 'gen-data', 'regime3'];
  return names.filter((n) => existsSync(join(here, 'commands', `${n}.ts`)));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(err.exitCode);
    } else {
      const e = err as Error;
      process.stderr.write(`error: ${e?.message ?? String(err)}\n`);
      if (process.env.DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    }
    process.exit(1);
  },
);
