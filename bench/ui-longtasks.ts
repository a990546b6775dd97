/**
 * `npm run bench:ui [-- --seconds 60] [--backend wasm] [--reload-seconds 30] [--no-reload] [--history N] [--build]
 * [--out-dir dist] [--verbose]`: is the workbench page responsive while it trains (issue 4: no main-thread task
 * over 50 ms)? Serves the production build (runs `vite build` only when --out-dir, default dist/, has none, or with
 * --build) with `vite preview` on a free port, opens it in Debian's Chromium with PerformanceObservers for
 * 'longtask' and 'long-animation-frame' (buffered) installed before the app runs, starts training on the example
 * dataset (queued again whenever it is done) and watches `--seconds` of training; then, mid-file, reloads the page
 * (the history loads from the store) and watches `--reload-seconds` more. `--history N` first writes N synthetic
 * metric rows for the active model straight into IndexedDB, so the reload loads and charts an N-step history.
 * Prints ONE JSON line on stdout: bench, backend, seconds, steps_trained, and for the training window longtasks,
 * max_longtask_ms, total_longtask_ms, over_50ms, p95_ms, task_ms_per_s / script_ms_per_s (the main thread's busy
 * time per second, from Chromium's Performance metrics); the same long-task counts for the first load (`load`),
 * the start of training (`startup`: example queued → first step) and the reload (`reload`: up to the history shown
 * and after it), and the scripts the long animation frames blame most (`causes`). Progress goes to stderr. Stops the
 * server and the browser it started. Chromium shares this machine's cores with everything else: numbers are noisy,
 * run it a few times.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { CliError, flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import { launchChromium, servePreview } from './browser-harness.ts';

let verbose = false;
const log = (m: string) => process.stderr.write(`[ui-longtasks] ${m}\n`);

/** Installed in the page before any app script: records long tasks and long animation frames (with script attribution). */
const OBSERVER_SCRIPT = `(() => {
  const perf = { longtasks: [], loafs: [] };
  window.__uiPerf = perf;
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) perf.longtasks.push({ start: e.startTime, duration: e.duration, name: e.name,
      attribution: (e.attribution || []).map((a) => [a.containerType, a.containerName, a.containerSrc].filter(Boolean).join(':')) }); })
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { perf.error = String(e); }
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) perf.loafs.push({ start: e.startTime, duration: e.duration,
      blocking: e.blockingDuration, renderStart: e.renderStart, styleAndLayoutStart: e.styleAndLayoutStart,
      scripts: (e.scripts || []).map((s) => ({ invoker: s.invoker, type: s.invokerType, src: s.sourceURL, fn: s.sourceFunctionName,
        char: s.sourceCharPosition, start: s.startTime, duration: s.duration, forced: s.forcedStyleAndLayoutDuration })) }); })
      .observe({ type: 'long-animation-frame', buffered: true });
  } catch (e) {}
})();`;

interface LongTask { start: number; duration: number; name: string; attribution: string[] }
interface LoafScript { invoker: string; type: string; src: string; fn: string; char: number; start: number; duration: number; forced: number }
interface Loaf { start: number; duration: number; blocking: number; renderStart: number; styleAndLayoutStart: number; scripts: LoafScript[] }
interface PagePerf { longtasks: LongTask[]; loafs: Loaf[]; error?: string }

/** Counts and sizes of the long tasks that started in [from, to) (page clock, ms). */
function summarize(tasks: readonly LongTask[], from = -Infinity, to = Infinity) {
  const d = tasks.filter((t) => t.start >= from && t.start < to).map((t) => t.duration).sort((a, b) => a - b);
  const total = d.reduce((a, b) => a + b, 0);
  return {
    longtasks: d.length,
    max_longtask_ms: d.length ? Math.round(d[d.length - 1]) : 0,
    total_longtask_ms: Math.round(total),
    over_50ms: d.filter((x) => x > 50).length,
    p95_ms: d.length ? Math.round(d[Math.min(d.length - 1, Math.floor(0.95 * d.length))]) : 0,
  };
}

/** Script time inside long animation frames (> 50 ms) that started in [from, to): main-thread work that hurt. */
function loafScriptMs(loafs: readonly Loaf[], from = -Infinity, to = Infinity): number {
  let ms = 0;
  for (const f of loafs) if (f.start >= from && f.start < to) for (const s of f.scripts) ms += s.duration;
  return Math.round(ms);
}

/** The scripts that long animation frames in [from, to) spent most time in, grouped by source and function. */
function causes(loafs: readonly Loaf[], from = -Infinity, to = Infinity, top = 6) {
  const by = new Map<string, { ms: number; count: number; forced: number }>();
  for (const f of loafs) {
    if (f.start < from || f.start >= to) continue;
    const scripts = f.scripts.length ? f.scripts : [{ invoker: '(rendering/no script)', type: '', src: '', fn: '', char: -1, start: 0, duration: f.duration, forced: 0 } as LoafScript];
    for (const s of scripts) {
      const src = s.src ? s.src.replace(/^https?:\/\/[^/]+/, '') : '';
      const key = `${s.invoker}${s.fn ? ` ${s.fn}` : ''}${src ? ` @${src}:${s.char}` : ''}`;
      const e = by.get(key) ?? { ms: 0, count: 0, forced: 0 };
      e.ms += s.duration;
      e.forced += s.forced;
      e.count++;
      by.set(key, e);
    }
    if (f.renderStart > 0) {
      const key = '(render: style, layout, paint)';
      const e = by.get(key) ?? { ms: 0, count: 0, forced: 0 };
      e.ms += f.start + f.duration - f.renderStart;
      e.count++;
      by.set(key, e);
    }
  }
  return [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, top).map(([k, v]) => ({ script: k, ms: Math.round(v.ms), frames: v.count, forced_layout_ms: Math.round(v.forced) }));
}

/**
 * Runs in the page: writes `n` synthetic metric rows for the active model straight into IndexedDB, at fractional
 * steps in (0, 1) so they never collide with real steps (integers from 1) and sort before them: after a reload the
 * page loads a history of n + real rows and training goes on appending to it. Returns the model id.
 */
async function seedHistory(n: number): Promise<string> {
  const req = indexedDB.open('training-workbench');
  const db = await new Promise<IDBDatabase>((res, rej) => {
    req.onsuccess = () => res(req.result);
    req.onerror = () => rej(req.error);
  });
  const models = await new Promise<{ id: string; active: number }[]>((res, rej) => {
    const r = db.transaction('models').objectStore('models').getAll();
    r.onsuccess = () => res(r.result as { id: string; active: number }[]);
    r.onerror = () => rej(r.error);
  });
  const model = models.find((m) => m.active === 1);
  if (!model) throw new Error('no active model to seed a history for');
  const tx = db.transaction('metrics', 'readwrite');
  const store = tx.objectStore('metrics');
  const t0 = Date.now() - n * 1000;
  for (let k = 0; k < n; k++) {
    const loss = 3 + 2 * Math.exp(-k / (n / 5)) + 0.3 * Math.sin(k);
    store.put({ modelId: model.id, step: (k + 1) / (n + 1), time: t0 + k * 1000, itemId: -1, fileStep: k, loss, lr: 1e-4, gradNorm: 1 + 0.1 * Math.cos(k), tokens: 400, ms: 900, tokensPerSecond: 444 });
  }
  await new Promise<void>((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(tx.error);
  });
  db.close();
  return model.id;
}

const perfOf = (page: Page) => page.evaluate(() => (window as unknown as { __uiPerf: PagePerf }).__uiPerf);
const now = (page: Page) => page.evaluate(() => performance.now());
const shownStep = async (page: Page) => Number((await page.getByTestId('train-step').getAttribute('data-step')) ?? 0);

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new CliError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** The page main thread's cumulative task and script time (Chromium's Performance domain), in ms. */
async function busyMs(cdp: CDPSession): Promise<{ task: number; script: number }> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
  const get = (n: string) => (metrics.find((m) => m.name === n)?.value ?? 0) * 1000;
  return { task: get('TaskDuration'), script: get('ScriptDuration') };
}
const perSecond = (a: { task: number; script: number }, b: { task: number; script: number }, ms: number) => ({
  task_ms_per_s: Math.round(((b.task - a.task) / ms) * 1000 * 10) / 10,
  script_ms_per_s: Math.round(((b.script - a.script) / ms) * 1000 * 10) / 10,
});

const daemonState = (page: Page) => page.getByTestId('daemon-state').getAttribute('data-state').catch(() => null);

/** Waits `seconds`, queueing the example dataset again whenever the daemon runs out of work (it is a few dozen steps). */
async function keepTraining(page: Page, seconds: number): Promise<number> {
  let requeued = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await sleep(Math.min(1000, Math.max(0, until - Date.now())));
    if ((await daemonState(page)) === 'idle' && Date.now() < until - 5000) {
      await page.getByTestId('btn-example').click();
      requeued++;
    }
  }
  return requeued;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), ['seconds', 'backend', 'reload-seconds', 'out-dir', 'history'], ['no-reload', 'build', 'verbose']);
  const seconds = numberFlag(args, 'seconds', { min: 1 }) ?? 60;
  const reloadSeconds = numberFlag(args, 'reload-seconds', { min: 1 }) ?? 30;
  const historyRows = numberFlag(args, 'history', { integer: true, min: 0 }) ?? 0;
  const backend = flag(args, 'backend') ?? 'wasm';
  const doReload = !args.flags.has('no-reload');
  verbose = args.flags.has('verbose');
  // --build (re)builds into --out-dir (default dist); without it an existing build is served as it is.
  const outDir = flag(args, 'out-dir') ?? 'dist';
  const { base, stop: stopServer } = await servePreview(outDir, { rebuild: args.flags.has('build'), verbose, log });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    await context.addInitScript({ content: OBSERVER_SCRIPT });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${base}/?backend=${encodeURIComponent(backend)}`);
    await page.getByTestId('btn-example').waitFor({ timeout: 60_000 });
    await sleep(1500); // let the first load settle
    const tClick = await now(page);
    await page.getByTestId('btn-example').click();
    log('example dataset queued; waiting for the first step');
    await waitFor('the first training step', async () => (await shownStep(page)) >= 1, 300_000);
    const tTrain = await now(page);
    const busy0 = await busyMs(cdp);
    const step0 = await shownStep(page);
    log(`training from step ${step0}; watching ${seconds} s`);
    const requeued = await keepTraining(page, seconds);
    const tEnd = await now(page);
    const busy1 = await busyMs(cdp);
    const step1 = await shownStep(page);
    const perf = await perfOf(page);
    if (perf.error) log(`longtask observer: ${perf.error}`);

    const training = summarize(perf.longtasks, tTrain, tEnd);
    const out: Record<string, unknown> = {
      bench: 'ui-longtasks',
      backend,
      seconds,
      steps_trained: step1 - step0,
      requeued,
      ms_per_step: step1 > step0 ? Math.round(((tEnd - tTrain) / (step1 - step0))) : null,
      ...training,
      load: summarize(perf.longtasks, -Infinity, tClick),
      startup: summarize(perf.longtasks, tClick, tTrain),
      long_frame_script_ms: loafScriptMs(perf.loafs, tTrain, tEnd),
      // Main-thread busy time per second of training (all tasks, not only long ones).
      ...perSecond(busy0, busy1, tEnd - tTrain),
      causes: causes(perf.loafs, tTrain, tEnd),
    };
    if (verbose) {
      for (const t of perf.longtasks) log(`longtask ${t.start.toFixed(0)} +${t.duration.toFixed(0)} ms ${t.attribution.join(' ')}`);
      for (const f of perf.loafs.filter((x) => x.blocking > 0)) log(`frame ${f.start.toFixed(0)} +${f.duration.toFixed(0)} ms (blocking ${f.blocking.toFixed(0)}, render at +${f.renderStart ? (f.renderStart - f.start).toFixed(0) : '-'}): ${f.scripts.map((x) => `${x.invoker} ${x.fn}@${x.char} ${x.duration.toFixed(0)}ms`).join('; ')}`);
    }

    if (doReload) {
      if (historyRows > 0) {
        const t = Date.now();
        const seeded = await page.evaluate(seedHistory, historyRows);
        log(`seeded ${historyRows} metric rows of ${seeded} in ${Date.now() - t} ms`);
        out.history_seeded = historyRows;
      }
      // Reload in the middle of a file, so the page comes back to a trainer resuming from its checkpoint.
      if ((await daemonState(page)) === 'idle') {
        await page.getByTestId('btn-example').click();
        out.requeued = requeued + 1;
      }
      await waitFor('training before the reload', async () => (await daemonState(page)) === 'training', 120_000);
      const before = await shownStep(page);
      await page.reload();
      const points = async () => Number((await page.getByTestId('loss-chart').getAttribute('data-points')) ?? 0);
      await waitFor('the loss history after the reload', async () => (await points()) > 0, 60_000);
      const tHistory = await now(page);
      const busy2 = await busyMs(cdp);
      const n = await points();
      const requeuedAfter = await keepTraining(page, reloadSeconds);
      const tEnd2 = await now(page);
      const busy3 = await busyMs(cdp);
      const after = await shownStep(page);
      const p2 = await perfOf(page);
      out.reload = {
        history_points: n,
        history_ms: Math.round(tHistory),
        ...summarize(p2.longtasks),
        to_history: summarize(p2.longtasks, -Infinity, tHistory),
        after_history: summarize(p2.longtasks, tHistory, tEnd2),
        watched_s: reloadSeconds,
        requeued: requeuedAfter,
        steps_before: before,
        steps_after: after,
        state_after: await page.getByTestId('daemon-state').getAttribute('data-state').catch(() => null),
        long_frame_script_ms: loafScriptMs(p2.loafs),
        after_history_busy: perSecond(busy2, busy3, tEnd2 - tHistory),
        causes: causes(p2.loafs),
      };
      if (verbose) for (const t of p2.longtasks) log(`reload longtask ${t.start.toFixed(0)} +${t.duration.toFixed(0)} ms ${t.attribution.join(' ')}`);
    }
    if (errors.length) out.page_errors = errors.slice(0, 5);
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await browser?.close().catch(() => undefined);
    stopServer();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`ui-longtasks: ${e instanceof CliError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
