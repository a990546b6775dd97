/**
 * Command-line entry (`npm run cli -- <command> ...`). Each command lives in src/cli/commands/<name>.ts
 * and exports `run(argv: string[]): Promise<number>` (the exit code). stdout carries only a command's
 * output; progress and notices go to stderr.
 */
import { existsSync, readFileSync } from 'node:fs';
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
  if (rest.includes('--help')) {
    process.stdout.write(`${commandDoc(command)}\n`);
    return 0;
  }
  const mod = (await import(join(here, 'commands', `${command}.ts`))) as { run(a: string[]): Promise<number> };
  return mod.run(rest);
}

/** A command's help is the doc comment that opens its module. */
function commandDoc(command: string): string {
  const source = readFileSync(join(here, 'commands', `${command}.ts`), 'utf8');
  const doc = /\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? '';
  return doc
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}

function listCommands(): string[] {
  const names = ['make-model', 'validate', 'train', 'logits', 'generate', 'gen-data', 'regime3', 'export-gguf'];
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
