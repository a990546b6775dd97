#!/usr/bin/env node
// `npm test`: every test. Unit tests (Vitest, Node) then browser tests (Playwright, Debian's Chromium).
// Installs Debian's chromium when it is missing and we are root; otherwise says in one line what to install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function ensureChromium() {
  if (existsSync(CHROMIUM)) return true;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    process.stderr.write('Chromium missing: installing Debian\'s chromium package...\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  }
  if (existsSync(CHROMIUM)) return true;
  process.stderr.write('Browser tests need Chromium at /usr/bin/chromium: run `sudo apt-get install chromium` (or set CHROMIUM_PATH).\n');
  return false;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

const only = process.argv[2];
let failed = 0;
if (only !== 'e2e') failed += run('npx', ['vitest', 'run']) === 0 ? 0 : 1;
if (only !== 'unit') {
  if (ensureChromium()) failed += run('npx', ['playwright', 'test']) === 0 ? 0 : 1;
  else failed += 1;
}
process.stdout.write(failed ? `test suites: ${failed} failed\n` : 'test suites: all passed\n');
process.exit(failed ? 1 : 0);
