// The fault suite's harness: a fresh on-disk Chromium profile per scenario (and for each reference run), the page
// opened with test hooks, the queue dropped and trained, what the store says read back (steps, losses, items,
// checkpoints, events), an uninterrupted reference run of the same queue and config to compare with, and each
// scenario's counts written where scripts/test-faults.mjs sums them into the summary line.
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { CheckpointRow, DaemonStateRow, EventRow, MetricRow, QueueItemRow, SampleRow, WorkbenchDb } from '../../src/store/db.ts';
import type { CheckpointStore } from '../../src/store/checkpoints.ts';
import type { Supervisor } from '../../src/daemon/supervisor.ts';
import type { FaultArrival, TrainerTestHook } from '../../src/workers/trainer.worker.ts';
import { chatJsonl, dropFiles, item, setConfig } from '../e2e/helpers.ts';
export { item };

/** What the page exposes with `?test-hooks=1` (src/main.ts). */
export interface TestApi {
  supervisor: Supervisor;
  db: WorkbenchDb;
  checkpoints: CheckpointStore;
}

/** Where each scenario's counts go (the runner sets it; a direct `playwright test` gets a fresh folder). */
export const OUT = process.env.FAULTS_OUT ?? (process.env.FAULTS_OUT = mkdtempSync(join(tmpdir(), 'workbench-faults-')));

export interface Fixtures {
  /** Opens another fresh profile (closed at the end of the test): reference runs, second looks. */
  freshProfile(): Promise<BrowserContext>;
}

/** Playwright's test with a fresh persistent profile (a new --user-data-dir on disk) for every test. */
export const test = base.extend<Fixtures>({
  freshProfile: async ({ playwright, launchOptions, baseURL }, use) => {
    const opened: { ctx: BrowserContext; dir: string }[] = [];
    await use(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'workbench-faults-profile-'));
      const ctx = await playwright.chromium.launchPersistentContext(dir, { ...launchOptions, baseURL, viewport: { width: 1280, height: 900 } });
      opened.push({ ctx, dir });
      return ctx;
    });
    for (const { ctx, dir } of opened) {
      await ctx.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  },
  context: async ({ freshProfile }, use) => {
    await use(await freshProfile());
  },
  page: async ({ context }, use) => {
    await use(context.pages()[0] ?? (await context.newPage()));
  },
});
export { expect };

// ------------------------------------------------------------------ the workload

/** A queue: files dropped in this order, all at normal priority. */
export type Queue = { name: string; text: string }[];

export function queueOf(files: number, examples: number): Queue {
  return Array.from({ length: files }, (_, i) => ({ name: `fault-${i + 1}.jsonl`, text: chatJsonl(examples, 11 * i + 1) }));
}

/** The queue of the storms (and the quota scenario): 3 files of 32 chat examples, 48 steps in all. */
export const STORM_QUEUE = queueOf(3, 32);

/**
 * The suite's training config (config editor keys): the tiny model on wasm, short rows, a metric row every step
 * (logEvery 1), a checkpoint every 3 steps, a validation and a sample every 4, so every phase comes often.
 */
export const CONFIG: Record<string, string> = {
  batchSize: '2', gradAccumSteps: '1', maxLength: '48', learningRate: '0.003', warmupSteps: '2', logEvery: '1',
  saveSteps: '3', evalSteps: '4', sampleEvery: '4', sampleTimeLimitMs: '20000', valFraction: '0.05', seed: '7',
};

export async function openWorkbench(page: Page, params = 'backend=wasm'): Promise<void> {
  await page.goto(`/?${params}&test-hooks=1`);
  await expect(page.getByTestId('daemon-state')).toBeVisible({ timeout: 60_000 });
  await page.waitForFunction(() => !!(window as unknown as { __workbenchTest?: unknown }).__workbenchTest, undefined, { timeout: 60_000 });
}

/** Config, then the queue (in order), as the person would. */
export async function startQueue(page: Page, queue: Queue, config: Record<string, string> = CONFIG): Promise<void> {
  await setConfig(page, config);
  for (const f of queue) await dropFiles(page, [f]);
}

/** Runs `fn` in the page with the test API; retried while the page navigates (reload storms). */
export async function inPage<T, A>(page: Page, fn: (t: TestApi, arg: A) => Promise<T>, arg: A, tries = 120): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      await page.waitForFunction(() => !!(window as unknown as { __workbenchTest?: unknown }).__workbenchTest, undefined, { timeout: 60_000 });
      return await page.evaluate(
        async ({ src, a }) => {
          const f = new Function(`return (${src})`)() as (t: TestApi, a: unknown) => Promise<unknown>;
          return f((window as unknown as { __workbenchTest: TestApi }).__workbenchTest, a);
        },
        { src: fn.toString(), a: arg as unknown },
      ) as T;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (i >= tries || !/Execution context was destroyed|navigation|Target closed|frame was detached|the trainer is not running/i.test(msg)) throw e;
      await page.waitForTimeout(250);
    }
  }
}

/** Arms a trainer test hook; retried while the trainer restarts. `stop-at` resolves when the trainer is there. */
export function testTrainer(page: Page, hook: TrainerTestHook): Promise<FaultArrival | void> {
  return inPage(page, (t, h) => t.supervisor.testTrainer(h), hook);
}

// ------------------------------------------------------------------ what the store says

export interface StepFact {
  step: number;
  item: string;
  fileStep: number;
  loss: number | null;
  skipped: boolean;
}

export interface ItemFact {
  name: string;
  status: string;
  examplesSeen: number;
  fileStep: number;
  fileSteps: number;
  skippedSteps: number;
  attempts: number;
  failureKind?: string;
  reason?: string;
}

export interface StoreFacts {
  daemon: Pick<DaemonStateRow, 'status' | 'reason' | 'errorKind' | 'step'>;
  modelStep: number;
  items: ItemFact[];
  steps: StepFact[];
  checkpoints: Pick<CheckpointRow, 'id' | 'step' | 'bytes' | 'chunkCount' | 'reason'>[];
  events: Pick<EventRow, 'kind' | 'errorKind' | 'message'>[];
  /** Sample answers per step (more than one at a step: a sample was stored twice). */
  samplesPerStep: Record<number, number>;
}

export async function readFacts(page: Page): Promise<StoreFacts> {
  return inPage(page, async (t) => {
    const { db } = t;
    const model = (await db.models.toArray()).find((m) => m.active === 1);
    const queue: QueueItemRow[] = await db.queue.orderBy('order').toArray();
    const names = new Map(queue.map((q) => [q.id, q.name]));
    const metrics: MetricRow[] = model ? await db.metrics.where('modelId').equals(model.id).toArray() : [];
    const st = (await db.daemon.get('state'))!;
    const samples: SampleRow[] = await db.samples.toArray();
    const samplesPerStep: Record<number, number> = {};
    for (const s of samples) samplesPerStep[s.step] = (samplesPerStep[s.step] ?? 0) + 1;
    return {
      daemon: { status: st?.status, reason: st?.reason, errorKind: st?.errorKind, step: st?.step },
      modelStep: model?.step ?? 0,
      items: queue.map((q) => ({
        name: q.name, status: q.status, examplesSeen: q.progress.examplesSeen, fileStep: q.progress.fileStep, fileSteps: q.progress.fileSteps,
        skippedSteps: q.progress.skippedSteps ?? 0, attempts: q.attempts, failureKind: q.failureKind, reason: q.reason,
      })),
      steps: metrics.sort((a, b) => a.step - b.step).map((m) => ({ step: m.step, item: names.get(m.itemId) ?? `#${m.itemId}`, fileStep: m.fileStep, loss: m.loss, skipped: !!m.skipped })),
      checkpoints: (await db.checkpoints.toArray()).map((c) => ({ id: c.id, step: c.step, bytes: c.bytes, chunkCount: c.chunkCount, reason: c.reason })),
      events: (await db.events.toArray()).map((e) => ({ kind: e.kind, errorKind: e.errorKind, message: e.message })),
      samplesPerStep,
    };
  }, undefined);
}

/** Steps with more than one stored sample answer (a redone sample stored again). */
export function duplicateSamples(f: StoreFacts): number[] {
  return Object.entries(f.samplesPerStep).filter(([, n]) => n > 1).map(([s]) => Number(s));
}

/** Waits until every item is completed, failed or skipped and the daemon is idle (or `until` says so). */
export async function waitQueueDone(page: Page, timeout: number, until?: (f: StoreFacts) => boolean): Promise<StoreFacts> {
  let facts!: StoreFacts;
  await expect
    .poll(async () => {
      facts = await readFacts(page);
      if (until) return until(facts);
      return facts.items.length > 0 && facts.items.every((i) => /completed|failed|skipped/.test(i.status)) && facts.daemon.status === 'idle';
    }, { timeout, intervals: [1000] })
    .toBe(true);
  return facts;
}

/** Every checkpoint read whole through the product's reader (CRC-32 of every chunk checked); the ones that fail. */
export async function verifyCheckpoints(page: Page): Promise<{ checked: number; bytes: number; failures: { id: string; step: number; message: string }[] }> {
  return inPage(page, async (t) => {
    const failures: { id: string; step: number; message: string }[] = [];
    let bytes = 0;
    const all = await t.checkpoints.list();
    for (const m of all) {
      try {
        let n = 0;
        for await (const x of t.checkpoints.streamTensors(m)) n += x.data.byteLength;
        if (n !== m.bytes) throw new Error(`read ${n} bytes where the manifest says ${m.bytes}`);
        bytes += n;
      } catch (e) {
        failures.push({ id: m.id, step: m.step, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
      }
    }
    return { checked: all.length, bytes, failures };
  }, undefined);
}

// ------------------------------------------------------------------ the reference and the comparison

/**
 * Losses must equal the reference's to this relative tolerance. A resumed run restores float32 weights, AdamW
 * moments, the data position and the RNG exactly and runs the same kernels in the same order, so it should be bit
 * for bit the same; 1e-5 × max(1, |loss|) leaves room for a different summation order (≈ 10 float32 ulps at the
 * losses seen here, 2–12) and is far below what one step trained twice or skipped changes (≥ 1e-3 at this learning rate).
 */
export const LOSS_TOLERANCE = 1e-5;

export interface Comparison {
  examplesLost: number;
  stepsCountedTwice: number;
  /** Steps 1..N of the reference with no metric row; steps past N with one. */
  missingSteps: number[];
  extraSteps: number[];
  /** Steps whose file, file step or loss differs from the reference's. */
  mismatches: { step: number; ref: StepFact; got: StepFact }[];
  maxLossDiff: number;
}

export function compareWithReference(ref: StoreFacts, got: StoreFacts, examplesPerStep: number): Comparison {
  let examplesLost = 0;
  let twice = 0;
  for (const r of ref.items) {
    const g = got.items.find((i) => i.name === r.name);
    const seen = g && g.status === r.status ? g.examplesSeen : g?.status === 'completed' || !g ? (g?.examplesSeen ?? 0) : g.examplesSeen;
    examplesLost += Math.max(0, r.examplesSeen - seen);
    twice += Math.ceil(Math.max(0, seen - r.examplesSeen) / examplesPerStep);
  }
  const refFinal = ref.steps.at(-1)?.step ?? 0;
  const gotFinal = Math.max(got.modelStep, got.steps.at(-1)?.step ?? 0);
  twice += Math.max(0, gotFinal - refFinal);
  const byStep = new Map(got.steps.map((s) => [s.step, s]));
  const missingSteps: number[] = [];
  const mismatches: Comparison['mismatches'] = [];
  let maxLossDiff = 0;
  for (const r of ref.steps) {
    const g = byStep.get(r.step);
    if (!g) {
      missingSteps.push(r.step);
      continue;
    }
    const d = r.loss === null || g.loss === null ? (r.loss === g.loss ? 0 : Infinity) : Math.abs(g.loss - r.loss);
    maxLossDiff = Math.max(maxLossDiff, d);
    if (g.item !== r.item || g.fileStep !== r.fileStep || g.skipped !== r.skipped || d > LOSS_TOLERANCE * Math.max(1, Math.abs(r.loss ?? 0))) mismatches.push({ step: r.step, ref: r, got: g });
  }
  const extraSteps = got.steps.filter((s) => s.step > refFinal).map((s) => s.step);
  return { examplesLost, stepsCountedTwice: twice, missingSteps, extraSteps, mismatches, maxLossDiff };
}

/** The queue ended as the uninterrupted run did: the same statuses, every step once with its loss, nothing lost or counted twice. */
export function expectSameAsReference(ref: StoreFacts, facts: StoreFacts, cmp: Comparison): void {
  expect(facts.items.map((i) => i.status)).toEqual(ref.items.map((i) => i.status));
  expect(cmp.missingSteps).toEqual([]);
  expect(cmp.extraSteps).toEqual([]);
  expect(cmp.mismatches).toEqual([]);
  expect(cmp.examplesLost).toBe(0);
  expect(cmp.stepsCountedTwice).toBe(0);
}

/**
 * The reference of a queue's first files alone: a file's steps do not depend on the files after it, so the run of
 * a queue's first files is the start of the whole queue's run.
 */
export function referencePrefix(ref: StoreFacts, names: string[]): StoreFacts {
  const steps = ref.steps.filter((s) => names.includes(s.item));
  return { ...ref, items: ref.items.filter((i) => names.includes(i.name)), steps, modelStep: steps.at(-1)?.step ?? 0 };
}

/**
 * The uninterrupted run of `queue` with `config` in its own fresh profile: computed once per suite run and kept in
 * OUT (the same queue and config give the same run, so the scenarios that share them share it).
 */
export async function referenceRun(freshProfile: Fixtures['freshProfile'], queue: Queue, config: Record<string, string>, timeout: number): Promise<StoreFacts> {
  const key = createHash('sha256').update(JSON.stringify({ queue, config })).digest('hex').slice(0, 16);
  const file = join(OUT, `reference-${key}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StoreFacts;
  } catch {
    // not computed yet in this run
  }
  const ctx = await freshProfile();
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await openWorkbench(page);
  await startQueue(page, queue, config);
  const facts = await waitQueueDone(page, timeout);
  expect(facts.items.map((i) => i.status)).toEqual(queue.map(() => 'completed'));
  expect(facts.steps.map((s) => s.step)).toEqual(Array.from({ length: facts.modelStep }, (_, i) => i + 1));
  await ctx.close();
  mkdirSync(OUT, { recursive: true });
  writeFileSync(file, JSON.stringify(facts));
  return facts;
}

// ------------------------------------------------------------------ counts

export interface ScenarioCounts {
  scenario: string;
  /** Faults by kind: kill, reload, quota, non-finite, device-loss, damaged-chunk. */
  faults: Record<string, number>;
  examplesLost: number;
  stepsCountedTwice: number;
  halfCheckpointsVisible: number;
  corruptReads: number;
  notes?: Record<string, unknown>;
}

/** Written as soon as a scenario knows its counts (before it asserts), so a failing scenario still reports them. */
export function record(c: ScenarioCounts): void {
  mkdirSync(join(OUT, 'scenarios'), { recursive: true });
  writeFileSync(join(OUT, 'scenarios', `${c.scenario}.json`), JSON.stringify(c, null, 2));
}

/** A small seeded generator (mulberry32), so a storm's random points can be replayed with FAULT_SEED. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Fisher–Yates with the given generator. */
export function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

export const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);

// ------------------------------------------------------------------ half checkpoints, watched from a second tab

export interface WatchReport {
  polls: number;
  /** Complete checkpoints seen (each checked once, when its manifest first appeared). */
  verified: number;
  /** Manifests whose chunks were missing, misnumbered or did not sum to the manifest's bytes. */
  half: { id: string; why: string }[];
  errors: string[];
}

export interface CheckpointWatch {
  /** Checks these ids now (what the page lists); ids without a manifest any more are skipped. */
  check(ids: string[]): Promise<void>;
  stop(): Promise<WatchReport>;
}

/**
 * Polls the store from a second tab of the same origin (a plain JSON page, raw IndexedDB, no app) every 200 ms, so
 * it keeps looking while the workbench tab reloads: every manifest that appears must have chunks 0..chunkCount−1
 * summing to its bytes. One readonly transaction per check: a consistent view. (The chunks' CRC-32s are checked by
 * verifyCheckpoints, through the product's reader.)
 */
export async function watchCheckpoints(context: BrowserContext): Promise<CheckpointWatch> {
  const tab = await context.newPage();
  await tab.goto('/models/qwen3-tiny/config.json');
  await tab.evaluate(() => {
    const req = <T>(r: IDBRequest<T>) => new Promise<T>((res, rej) => ((r.onsuccess = () => res(r.result)), (r.onerror = () => rej(r.error))));
    const open = () =>
      new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open('training-workbench');
        r.onupgradeneeded = () => r.transaction!.abort(); // not created yet: never create it from here
        r.onsuccess = () => ((r.result.onversionchange = () => r.result.close()), res(r.result));
        r.onerror = () => rej(r.error);
      });
    type Manifest = { id: string; chunkCount: number; chunkBytes: number; bytes: number };
    const w = { polls: 0, verified: [] as string[], half: [] as { id: string; why: string }[], errors: [] as string[], stop: false };
    const done = new Set<string>();
    const checkOne = async (db: IDBDatabase, id: string) => {
      const tx = db.transaction(['checkpoints', 'checkpointChunks'], 'readonly');
      const m = (await req(tx.objectStore('checkpoints').get(id))) as Manifest | undefined;
      if (!m) return; // deleted since it was listed
      const rows = (await req(tx.objectStore('checkpointChunks').getAll(IDBKeyRange.bound([id, 0], [id, Infinity])))) as { index: number; data: ArrayBuffer }[];
      done.add(id);
      const sum = rows.reduce((n, r) => n + r.data.byteLength, 0);
      const indices = rows.map((r) => r.index).join(',');
      const want = Array.from({ length: m.chunkCount }, (_, i) => i).join(',');
      if (indices !== want || sum !== m.bytes) return void w.half.push({ id, why: `chunks [${indices}] of ${m.chunkCount}, ${sum} bytes of ${m.bytes}` });
      w.verified.push(id);
    };
    const check = async (ids?: string[]) => {
      const db = await open();
      try {
        const all = ids ?? ((await req(db.transaction('checkpoints').objectStore('checkpoints').getAllKeys())) as string[]);
        for (const id of all) if (!done.has(id)) await checkOne(db, id);
      } finally {
        db.close();
      }
    };
    (window as unknown as { __watch: unknown }).__watch = { w, check };
    void (async () => {
      while (!w.stop) {
        try {
          await check();
          w.polls++;
        } catch (e) {
          if (w.errors.length < 20) w.errors.push(String(e));
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
  });
  type InTab = { w: { polls: number; verified: string[]; half: WatchReport['half']; errors: string[]; stop: boolean }; check(ids: string[]): Promise<void> };
  return {
    check: (ids) => tab.evaluate((i) => (window as unknown as { __watch: InTab }).__watch.check(i), ids),
    async stop() {
      const r = await tab.evaluate(() => {
        const { w } = (window as unknown as { __watch: InTab }).__watch;
        w.stop = true;
        return { polls: w.polls, verified: w.verified.length, half: w.half, errors: w.errors };
      });
      await tab.close();
      return r;
    },
  };
}

/** The checkpoint ids the page lists (`checkpoint-item`), read after it has loaded them. */
export async function listedCheckpoints(page: Page): Promise<string[]> {
  return page.locator('[data-testid="checkpoint-item"]').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id ?? ''));
}
