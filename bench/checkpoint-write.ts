/**
 * `npx tsx bench/checkpoint-write.ts [--mb 1024] [--chunk-mb 64]`: how long IndexedDB in Chromium takes to store a
 * checkpoint's bytes the way CheckpointStore writes them (one put of a ≤ 64 MB ArrayBuffer per transaction, random
 * bytes so nothing compresses), to size the timed checkpoint interval of large models (a Qwen3-0.6B checkpoint with
 * Adam moments is ~7 GB, and training waits while it is written). Prints ONE JSON line: bench, mb, chunk_mb,
 * write_s (the puts only), mb_per_s, projected_7gb_s. The profile lives in the system temp folder (on disk). Not part of
 * `npm test`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CliError, numberFlag, parseArgs } from '../src/cli/args.ts';
import { CHROMIUM_ARGS } from './browser-harness.ts';

const log = (m: string) => process.stderr.write(`[checkpoint-write] ${m}\n`);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), ['mb', 'chunk-mb']);
  const mb = numberFlag(args, 'mb', { integer: true }) ?? 1024;
  const chunkMb = numberFlag(args, 'chunk-mb', { integer: true }) ?? 64;
  if (mb < chunkMb || chunkMb < 1) throw new CliError('--mb must be at least --chunk-mb, and --chunk-mb at least 1');
  // A persistent profile on disk: a fresh context of a launched browser keeps IndexedDB in memory (and a small quota).
  const profile = mkdtempSync(join(tmpdir(), 'bench-checkpoint-write-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await context.newPage();
    // IndexedDB needs a real origin: serve an empty page under one.
    await page.route('http://bench.invalid/**', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench</title>' }));
    await page.goto('http://bench.invalid/');
    log(`writing ${mb} MB in ${chunkMb} MB chunks`);
    const r = await page.evaluate(async ({ mb, chunkMb }) => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const q = indexedDB.open('bench-checkpoint-write', 1);
        q.onupgradeneeded = () => q.result.createObjectStore('chunks');
        q.onsuccess = () => res(q.result);
        q.onerror = () => rej(q.error);
      });
      const n = Math.floor(mb / chunkMb);
      let putMs = 0;
      let seed = 0x9e3779b9;
      for (let i = 0; i < n; i++) {
        const words = new Uint32Array((chunkMb * 1024 * 1024) / 4);
        for (let k = 0; k < words.length; k++) {
          seed ^= seed << 13;
          seed ^= seed >>> 17;
          seed ^= seed << 5;
          words[k] = seed >>> 0;
        }
        const t0 = performance.now();
        await new Promise<void>((res, rej) => {
          const tx = db.transaction('chunks', 'readwrite');
          tx.objectStore('chunks').put(words.buffer, i);
          tx.oncomplete = () => res();
          tx.onerror = () => rej(tx.error);
          tx.onabort = () => rej(tx.error);
        });
        putMs += performance.now() - t0;
      }
      db.close();
      await new Promise((res) => {
        const d = indexedDB.deleteDatabase('bench-checkpoint-write');
        d.onsuccess = d.onerror = d.onblocked = () => res(undefined);
      });
      return { n, putMs };
    }, { mb, chunkMb });
    const written = r.n * chunkMb;
    const mbPerS = written / (r.putMs / 1000);
    console.log(JSON.stringify({ bench: 'checkpoint-write', mb: written, chunk_mb: chunkMb, write_s: +(r.putMs / 1000).toFixed(2), mb_per_s: +mbPerS.toFixed(1), projected_7gb_s: +((7 * 1024) / mbPerS).toFixed(0) }));
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof CliError ? 2 : 1);
});
