#!/usr/bin/env node
// `npm run test:gguf`: llama.cpp loads the workbench's GGUF exports (tests/gguf, about 3 minutes here).
// node-llama-cpp is pinned to exactly 3.21.1 (newer releases break `npm ci` here) and lives in its own package,
// tests/gguf/runner, outside the project's `npm ci`: installed when missing with `npm ci --omit=optional`, which
// takes the prebuilt linux-x64 binary package the runner names and skips the other platforms' 767 MB.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const runner = join(root, 'tests/gguf/runner');
const run = (cmd, args, cwd = root, env = process.env) => spawnSync(cmd, args, { cwd, stdio: 'inherit', env }).status ?? 1;

if (!existsSync(join(runner, 'node_modules/node-llama-cpp/package.json')) || !existsSync(join(runner, 'node_modules/@node-llama-cpp/linux-x64/package.json'))) {
  process.stderr.write('test:gguf: installing node-llama-cpp 3.21.1 (linux-x64 prebuilt only) in tests/gguf/runner\n');
  const env = { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' };
  const code = run('npm', ['ci', '--omit=optional', '--no-audit', '--no-fund', '--loglevel=warn'], runner, env);
  if (code !== 0) process.exit(code);
}
process.exit(run('npx', ['vitest', 'run', '-c', 'tests/gguf/vitest.config.ts', ...process.argv.slice(2)]));
