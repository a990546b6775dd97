/** Minimal typed argument parsing for the CLI commands: `--name value`, repeated flags, booleans. */

/** A usage or input error: printed as one line on stderr, exit code 1 (2 for usage). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ParsedArgs {
  positional: string[];
  /** Every value given for each flag, in order; booleans have the value 'true'. */
  flags: Map<string, string[]>;
}

/** Parses argv against the allowed flags; `booleans` take no value. Unknown flags are a CliError. */
export function parseArgs(argv: string[], allowed: readonly string[], booleans: readonly string[] = []): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!allowed.includes(name) && !booleans.includes(name)) {
      throw new CliError(`unknown option --${name}; allowed: ${[...allowed, ...booleans].map((f) => `--${f}`).join(' ')}`, 2);
    }
    if (booleans.includes(name)) value = value ?? 'true';
    else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new CliError(`option --${name} needs a value`, 2);
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

export function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return v ? v[v.length - 1] : undefined;
}

export function requiredFlag(args: ParsedArgs, name: string): string {
  const v = flag(args, name);
  if (v === undefined) throw new CliError(`missing required option --${name}`, 2);
  return v;
}

export function numberFlag(args: ParsedArgs, name: string, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
    throw new CliError(`--${name} must be ${opts.integer ? 'an integer' : 'a number'}, got "${v}"`, 2);
  }
  if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    throw new CliError(`--${name} must be between ${opts.min ?? '-inf'} and ${opts.max ?? 'inf'}, got ${n}`, 2);
  }
  return n;
}
