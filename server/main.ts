/**
 * CLI of the companion inference node: `npm run inference-node -- --port 8765 --data DIR [--host H]`.
 * Prints only its URL on stdout; keys come from INFERENCE_ADMIN_KEY / INFERENCE_READ_KEY.
 */
import { randomBytes } from 'node:crypto';
import { engineInference } from './engine-adapter.ts';
import { startNode, type NodeOptions } from './app.ts';

const USAGE = `usage: npm run inference-node -- --data DIR [--port 8765] [--host 127.0.0.1] [--origins URL,URL]
  [--max-model-bytes N] [--max-dataset-bytes N] [--time-limit-ms N] [--max-tokens N]
env: INFERENCE_ADMIN_KEY (admin key; a random one is made and printed on stderr when unset), INFERENCE_READ_KEY (read key, optional), INFERENCE_CORS_ORIGINS (like --origins)`;

function fail(message: string): never {
  process.stderr.write(`inference-node: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) fail(`unexpected argument "${a}"`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) fail(`--${m[1]} needs a value`);
    out[m[1]] = value;
  }
  return out;
}

function intArg(args: Record<string, string>, name: string, min: number): number | undefined {
  if (args[name] === undefined) return undefined;
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) fail(`--${name} must be an integer ≥ ${min}, got "${args[name]}"`);
  return v;
}

async function main(): Promise<void> {
  // stdout carries only the URL: anything a library logs goes to stderr
  console.log = console.info = console.debug = (...a: unknown[]) => console.error(...a);
  const args = parseArgs(process.argv.slice(2));
  const known = ['data', 'port', 'host', 'origins', 'max-model-bytes', 'max-dataset-bytes', 'time-limit-ms', 'max-tokens'];
  for (const k of Object.keys(args)) if (!known.includes(k)) fail(`unknown option --${k}`);
  if (!args.data) fail('--data DIR is required');
  let admin = process.env.INFERENCE_ADMIN_KEY ?? '';
  if (!admin) {
    admin = randomBytes(16).toString('hex');
    process.stderr.write(`inference-node: INFERENCE_ADMIN_KEY is unset; this run's admin key is ${admin}\n`);
  }
  const opts: NodeOptions = {
    dataDir: args.data,
    host: args.host ?? '127.0.0.1',
    port: intArg(args, 'port', 0) ?? 8765,
    keys: { admin, read: process.env.INFERENCE_READ_KEY || null },
    origins: (args.origins ?? process.env.INFERENCE_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    engine: engineInference,
    maxModelUploadBytes: intArg(args, 'max-model-bytes', 1),
    maxDatasetBytes: intArg(args, 'max-dataset-bytes', 1),
    generationTimeLimitMs: intArg(args, 'time-limit-ms', 1),
    maxTokens: intArg(args, 'max-tokens', 1),
  };
  const node = await startNode(opts);
  process.stdout.write(node.url + '\n');
  const stop = (): void => {
    void node.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`inference-node: ${(e as Error).message}\n`);
  process.exit(1);
});
