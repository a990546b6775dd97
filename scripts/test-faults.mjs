#!/usr/bin/env node
// `npm run test:faults`: the fault-injection suite (tests/faults, Playwright on Debian's Chromium), then its counts.
// Each scenario writes what it injected and what it found to $FAULTS_OUT/scenarios/<name>.json; this sums them and
// prints, last, exactly:
//   faults injected: N, examples lost: N, steps counted twice: N, half checkpoints visible: N, corrupt reads: N
// Exits 0 only when every test passed, every scenario reported, at least 30 faults were injected (the whole suite)
// and nothing was lost, counted twice, half visible or read corrupt. Extra arguments go to `playwright test`
// (e.g. a file filter); the 30-fault floor then does not apply.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCENARIOS = ['kill-storm', 'reload-storm', 'quota', 'device-loss', 'non-finite'];
const MIN_FAULTS = 30;

const args = process.argv.slice(2);
const whole = args.length === 0;
const out = mkdtempSync(join(tmpdir(), 'workbench-faults-'));
const started = Date.now();

let testsOk = false;
let tests = { passed: 0, failed: 0, skipped: 0 };
if (!existsSync(CHROMIUM)) {
  process.stderr.write('The fault suite needs Chromium at /usr/bin/chromium: run `sudo apt-get install chromium` (or set CHROMIUM_PATH).\n');
} else {
  const json = join(out, 'playwright.json');
  const r = spawnSync('npx', ['playwright', 'test', '-c', 'tests/faults/playwright.config.ts', '--reporter=list,json', ...args], {
    stdio: 'inherit',
    env: { ...process.env, FAULTS_OUT: out, PLAYWRIGHT_JSON_OUTPUT_NAME: json },
  });
  testsOk = r.status === 0;
  try {
    const s = JSON.parse(readFileSync(json, 'utf8')).stats;
    tests = { passed: s.expected + s.flaky, failed: s.unexpected, skipped: s.skipped };
  } catch {
    tests.failed = 1; // no report: the runner itself failed
  }
}

const dir = join(out, 'scenarios');
const reports = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8'))) : [];
const total = { faults: 0, lost: 0, twice: 0, half: 0, corrupt: 0 };
const byKind = {};
for (const r of reports.sort((a, b) => SCENARIOS.indexOf(a.scenario) - SCENARIOS.indexOf(b.scenario))) {
  const n = Object.values(r.faults).reduce((a, b) => a + b, 0);
  for (const [k, v] of Object.entries(r.faults)) byKind[k] = (byKind[k] ?? 0) + v;
  total.faults += n;
  total.lost += r.examplesLost;
  total.twice += r.stepsCountedTwice;
  total.half += r.halfCheckpointsVisible;
  total.corrupt += r.corruptReads;
  const kinds = Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(`${r.scenario}: ${n} faults (${kinds}); examples lost ${r.examplesLost}, steps counted twice ${r.stepsCountedTwice}, half checkpoints visible ${r.halfCheckpointsVisible}, corrupt reads ${r.corruptReads}\n`);
}
const missing = whole ? SCENARIOS.filter((s) => !reports.some((r) => r.scenario === s)) : [];
const problems = [
  ...(testsOk && tests.failed === 0 ? [] : [`${tests.failed} test(s) failed`]),
  ...(missing.length ? [`no report from ${missing.join(', ')}`] : []),
  ...(whole && total.faults < MIN_FAULTS ? [`only ${total.faults} faults injected (the suite needs at least ${MIN_FAULTS})`] : []),
  ...(total.lost || total.twice || total.half || total.corrupt ? ['something was lost, counted twice, half visible or read corrupt'] : []),
];
const minutes = ((Date.now() - started) / 60000).toFixed(1);
process.stdout.write(`faults by kind: ${Object.entries(byKind).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}\n`);
process.stdout.write(`tests: ${tests.passed} passed, ${tests.failed} failed, ${tests.skipped} skipped; wall time ${minutes} min; details in ${dir}\n`);
if (problems.length) process.stdout.write(`FAILED: ${problems.join('; ')}\n`);
process.stdout.write(`faults injected: ${total.faults}, examples lost: ${total.lost}, steps counted twice: ${total.twice}, half checkpoints visible: ${total.half}, corrupt reads: ${total.corrupt}\n`);
process.exit(problems.length ? 1 : 0);
