/**
 * `npx tsx bench/large-file.ts [--mb 300] [--out-dir dist] [--build]`: does a large dropped file stream through
 * validation in the browser without holding it in memory (the old system ran out of memory on 300 MB files)?
 * Writes a chat JSONL file of about `--mb` MB (~1.3 kB an example, under the tiny preset's max length), serves
 * the production build, opens it in Debian's Chromium with the daemon paused (nothing trains), picks
 * the file in the file input and waits until its queue item is validated. Samples the resident memory of every
 * Chromium process twice a second. Prints ONE JSON line: bench, mb, examples, status, validate_s, mb_per_s,
 * baseline_rss_mb (before the drop), peak_rss_mb and peak_growth_mb. Progress goes to stderr.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { CliError, flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import { Rng } from '../src/engine/rng.ts';
import { launchChromium, servePreview } from './browser-harness.ts';

const log = (m: string) => process.stderr.write(`[large-file] ${m}\n`);

const WORDS = 'the model learns from each example a little more about how answers follow questions in this domain'.split(' ');

/** Writes about `mb` MB of valid chat JSONL; returns the number of examples. */
async function writeData(path: string, mb: number): Promise<number> {
  const out = createWriteStream(path);
  const rng = new Rng(7);
  const sentence = (n: number) => Array.from({ length: n }, () => rng.pick(WORDS)).join(' ');
  let bytes = 0;
  let n = 0;
  while (bytes < mb * 1024 * 1024) {
    const line = JSON.stringify({
      messages: [
        { role: 'system', content: 'You are a careful assistant.' },
        { role: 'user', content: `Question ${n}: ${sentence(50)}?` },
        { role: 'assistant', content: `Answer ${n}: ${sentence(110)}.` },
      ],
      metadata: { source: 'bench', index: n },
    }) + '\n';
    bytes += Buffer.byteLength(line);
    n++;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return n;
}

/** Resident memory of all Chromium processes, in MB. */
function chromiumRssMb(): number {
  try {
    const out = execFileSync('ps', ['-C', 'chromium', '-o', 'rss='], { encoding: 'utf8' });
    return Math.round(out.split('\n').reduce((s, l) => s + (Number(l.trim()) || 0), 0) / 1024);
  } catch {
    return 0; // no process matched
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), ['mb', 'out-dir'], ['build']);
  const mb = numberFlag(args, 'mb', { min: 1, max: 4096 }) ?? 300;
  const dir = mkdtempSync(join(tmpdir(), 'large-file-'));
  const file = join(dir, `large-${mb}mb.jsonl`);
  log(`writing ~${mb} MB to ${file}`);
  const written = await writeData(file, mb);
  const server = await servePreview(flag(args, 'out-dir') ?? 'dist', { rebuild: args.flags.has('build'), log });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.base}/?backend=cpu`);
    await page.getByTestId('btn-pause').click();
    await page.locator('[data-testid="daemon-state"][data-state="paused"]').waitFor({ timeout: 60_000 });
    await sleep(2000);
    const baseline = chromiumRssMb();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, chromiumRssMb())), 500);
    const t0 = Date.now();
    await page.getByTestId('file-input').setInputFiles(file);
    const item = page.locator(`[data-testid="queue-item"][data-name="large-${mb}mb.jsonl"]`);
    await item.locator('xpath=self::*[@data-status="queued" or @data-status="failed"]').waitFor({ timeout: 60 * 60_000 });
    const seconds = (Date.now() - t0) / 1000;
    clearInterval(sampler);
    const examples = Number((await item.getByTestId('item-examples').textContent())?.replace(/\D/g, '') || 0);
    const out = {
      bench: 'large-file',
      mb: Math.round(statSync(file).size / 1024 / 1024),
      written_examples: written,
      examples,
      status: await item.getAttribute('data-status'),
      validate_s: Math.round(seconds),
      mb_per_s: Math.round((statSync(file).size / 1024 / 1024 / seconds) * 10) / 10,
      baseline_rss_mb: baseline,
      peak_rss_mb: peak,
      peak_growth_mb: peak - baseline,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await browser?.close().catch(() => undefined);
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`large-file: ${e instanceof CliError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
