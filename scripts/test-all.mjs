#!/usr/bin/env node
// `npm test`: every test. Unit tests (Vitest, Node) then browser tests (Playwright, Debian's Chromium).
// Installs Debian's chromium when it is missing and we are root; otherwise says in one line what to install.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

/** Counts from a runner's JSON report; null when it wrote none (it crashed before reporting). */
function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

const only = process.argv[2];
const out = mkdtempSync(join(tmpdir(), 'workbench-tests-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let suitesFailed = 0;

if (only !== 'e2e') {
  const file = join(out, 'vitest.json');
  suitesFailed += run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${file}`]) === 0 ? 0 : 1;
  const r = readJson(file);
  totals.passed += r?.numPassedTests ?? 0;
  totals.failed += r ? r.numFailedTests : 1;
  totals.skipped += (r?.numPendingTests ?? 0) + (r?.numTodoTests ?? 0);
}
if (only !== 'unit') {
  if (ensureChromium()) {
    const file = join(out, 'playwright.json');
    suitesFailed += run('npx', ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: file }) === 0 ? 0 : 1;
    const s = readJson(file)?.stats;
    totals.passed += (s?.expected ?? 0) + (s?.flaky ?? 0);
    totals.failed += s ? s.unexpected : 1;
    totals.skipped += s?.skipped ?? 0;
  } else {
    suitesFailed += 1;
    totals.failed += 1;
  }
}
// One closing line, as CI reads it: unit and browser tests together.
process.stdout.write(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(suitesFailed || totals.failed ? 1 : 0);
