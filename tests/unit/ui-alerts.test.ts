// Live training alerts (src/ui/lib/alerts.ts): each of the five rules fires on a history that breaks it and stays
// quiet on one that does not; the monitor works incrementally on arrays that grow in place.
import { describe, expect, it } from 'vitest';
import { AlertMonitor, type AlertKind, type EvalPoint } from '../../src/ui/lib/alerts.ts';
import { emptyHistory, type LossHistory } from '../../src/ui/lib/history-reader.ts';

interface Row {
  loss?: number | null;
  tps?: number;
  time?: number;
  itemId?: number;
}

/** Appends rows (steps continue from the last one; 1 s apart by default) the way MetricHistoryReader does. */
function append(h: LossHistory, rows: Row[], state = { item: 1 }): LossHistory {
  for (const r of rows) {
    const step = h.steps.length ? h.steps[h.steps.length - 1] + 1 : 1;
    const item = r.itemId ?? state.item;
    if (h.steps.length && item !== state.item) h.boundaries.push(step);
    state.item = item;
    h.steps.push(step);
    h.loss.push(r.loss === undefined ? 2 : r.loss);
    h.smoothed.push(r.loss === undefined ? 2 : r.loss);
    h.lr.push(1e-4);
    h.tokensPerSecond.push(r.tps ?? 800);
    h.tokens.push(100);
    h.gradNorm.push(1);
    h.time.push(r.time ?? step * 1000);
  }
  return h;
}

const rows = (n: number, f: (i: number) => Row): Row[] => Array.from({ length: n }, (_, i) => f(i));
const kinds = (m: AlertMonitor, h: LossHistory, e?: EvalPoint): AlertKind[] => m.update(h, e).map((a) => a.kind);
/** Deterministic noise in [-1, 1]. */
const wobble = (i: number) => Math.sin(i * 12.9898) * 0.999;

describe('throughput_drop', () => {
  it('fires when the tokens/s EMA falls below 60 % of the baseline taken after step 20, with the numbers', () => {
    const h = append(emptyHistory(), rows(40, () => ({ tps: 800 })));
    const m = new AlertMonitor();
    expect(kinds(m, h)).toEqual([]);
    append(h, rows(60, () => ({ tps: 300 })));
    const [a] = m.update(h);
    expect(a.kind).toBe('throughput_drop');
    expect(a.message).toMatch(/^Throughput 3\d\d tok\/s is 38 % of its baseline 800 tok\/s \(taken after step 20\)\.$/);
    // EMA (weight 0.9) from 800 crosses 480 after k rows of 300: 500·0.9^k < 180 ⇔ k ≥ 10, so at step 40 + 10.
    expect(a.since).toBe(50);
    expect(m.update(h)[0].since).toBe(50);
  });
  it('does not fire on a dip above 60 %, before the baseline exists, or after recovery', () => {
    const m = new AlertMonitor();
    const h = append(emptyHistory(), rows(15, (i) => ({ tps: i < 10 ? 1000 : 100 })));
    expect(kinds(m, h)).toEqual([]); // no baseline before step 20
    const h2 = append(emptyHistory(), rows(30, () => ({ tps: 800 })));
    append(h2, rows(100, () => ({ tps: 520 })));
    expect(kinds(new AlertMonitor(), h2)).toEqual([]); // 65 %
    const h3 = append(emptyHistory(), rows(30, () => ({ tps: 800 })));
    append(h3, rows(30, () => ({ tps: 200 })));
    const m3 = new AlertMonitor();
    expect(kinds(m3, h3)).toEqual(['throughput_drop']);
    append(h3, rows(60, () => ({ tps: 800 })));
    expect(kinds(m3, h3)).toEqual([]);
  });
  it('takes a new baseline after a file boundary', () => {
    const h = append(emptyHistory(), rows(30, () => ({ tps: 800, itemId: 1 })));
    append(h, rows(60, () => ({ tps: 300, itemId: 2 })));
    expect(kinds(new AlertMonitor(), h)).toEqual([]);
  });
});

describe('val_gap', () => {
  const h = append(emptyHistory(), rows(10, () => ({ loss: 1.5 })));
  it('fires when validation loss exceeds the training loss by more than 0.3', () => {
    const [a] = new AlertMonitor().update(h, { step: 8, valLoss: 1.95, trainLoss: 1.5 });
    expect(a.kind).toBe('val_gap');
    expect(a.since).toBe(8);
    expect(a.message).toBe('Validation loss 1.95 is 0.45 above the training loss 1.50 at step 8 (over 0.3 suggests overfitting).');
    // Without the stored train loss, the latest smoothed loss is used.
    expect(kinds(new AlertMonitor(), h, { step: 8, valLoss: 1.9, trainLoss: null })).toEqual(['val_gap']);
  });
  it('does not fire at a gap of 0.3 or below, or without an evaluation', () => {
    expect(kinds(new AlertMonitor(), h, { step: 8, valLoss: 1.75, trainLoss: 1.5 })).toEqual([]);
    expect(kinds(new AlertMonitor(), h, { step: 8, valLoss: 1.2, trainLoss: 1.5 })).toEqual([]);
    expect(kinds(new AlertMonitor(), h)).toEqual([]);
  });
});

describe('loss_variance', () => {
  it('fires when the last 50 losses have a coefficient of variation above 0.5', () => {
    const h = append(emptyHistory(), rows(50, (i) => ({ loss: i % 2 ? 0.4 : 2.6 }))); // mean 1.5, std 1.1
    const [a] = new AlertMonitor().update(h);
    expect(a.kind).toBe('loss_variance');
    expect(a.message).toBe('Loss varies widely: its standard deviation 1.10 over the last 50 steps is 73 % of the mean 1.50 (over 50 %).');
  });
  it('does not fire on ordinary noise, on fewer than 50 losses, or on tiny jitter near zero', () => {
    expect(kinds(new AlertMonitor(), append(emptyHistory(), rows(200, (i) => ({ loss: 1.5 + 0.3 * wobble(i) }))))).toEqual([]);
    expect(kinds(new AlertMonitor(), append(emptyHistory(), rows(49, (i) => ({ loss: i % 2 ? 0.4 : 2.6 }))))).toEqual([]);
    expect(kinds(new AlertMonitor(), append(emptyHistory(), rows(50, (i) => ({ loss: i % 2 ? 0.01 : 0.05 }))))).toEqual([]);
  });
  it('looks only at the last 50 losses, skipping steps without a loss', () => {
    const h = append(emptyHistory(), rows(50, (i) => ({ loss: i % 2 ? 0.4 : 2.6 })));
    append(h, rows(50, (i) => ({ loss: i % 3 === 0 ? null : 1.5 })));
    append(h, rows(20, () => ({ loss: 1.5 })));
    expect(kinds(new AlertMonitor(), h)).toEqual([]);
  });
});

describe('plateau', () => {
  it('fires when the loss improved under 1 % over 500 steps, then at most once per 10 minutes', () => {
    const h = append(emptyHistory(), rows(600, (i) => ({ loss: 1.5 + 0.05 * wobble(i) })));
    const m = new AlertMonitor();
    const [a] = m.update(h);
    expect(a.kind).toBe('plateau');
    expect(a.since).toBe(600);
    expect(a.message).toMatch(/^Loss plateau: the mean loss 1\.\d{3} is only -?\d\.\d % below 1\.\d{3} of 500 steps earlier \(under 1 %\)\.$/);
    // Still holding: the same alert stays.
    append(h, rows(10, (i) => ({ loss: 1.5 + 0.05 * wobble(i + 600) })));
    expect(m.update(h).map((x) => [x.kind, x.since])).toEqual([['plateau', 600]]);
    // Clears (a drop in loss), then holds again 5 minutes after the raise: not shown again yet.
    append(h, rows(50, () => ({ loss: 1.0 })));
    expect(kinds(m, h)).toEqual([]);
    const lastTime = () => h.time[h.time.length - 1];
    const raisedAt = 600 * 1000;
    append(h, rows(500, () => ({ loss: 1.0, time: lastTime() + 1 })));
    expect(lastTime() - raisedAt).toBeLessThan(10 * 60 * 1000);
    expect(kinds(m, h)).toEqual([]);
    // Past 10 minutes since it was raised: shown again.
    append(h, rows(1, () => ({ loss: 1.0, time: raisedAt + 10 * 60 * 1000 })));
    const [b] = m.update(h);
    expect(b.kind).toBe('plateau');
    expect(b.since).toBe(h.steps[h.steps.length - 1]);
  });
  it('does not fire while the loss still falls, or before 500 steps of history', () => {
    expect(kinds(new AlertMonitor(), append(emptyHistory(), rows(600, (i) => ({ loss: 3 - i * 0.002 }))))).toEqual([]);
    expect(kinds(new AlertMonitor(), append(emptyHistory(), rows(520, () => ({ loss: 1.5 }))))).toEqual([]);
  });
});

describe('loss_rising', () => {
  it('fires when the mean of the last 10 losses is above 1.1 × the 10 before', () => {
    const h = append(emptyHistory(), rows(10, () => ({ loss: 1.0 })));
    append(h, rows(10, () => ({ loss: 1.2 })));
    const [a] = new AlertMonitor().update(h);
    expect(a.kind).toBe('loss_rising');
    expect(a.since).toBe(20);
    expect(a.message).toBe('Loss rising: the mean of the last 10 steps 1.200 is 1.20 × the mean of the 10 before (1.000; over 1.1 × counts).');
  });
  it('does not fire at 1.1 × or below, or with fewer than 20 losses', () => {
    const h = append(emptyHistory(), rows(10, () => ({ loss: 1.0 })));
    append(h, rows(10, () => ({ loss: 1.09 })));
    expect(kinds(new AlertMonitor(), h)).toEqual([]);
    expect(kinds(new AlertMonitor(), append(emptyHistory(), rows(19, (i) => ({ loss: i < 9 ? 1 : 2 }))))).toEqual([]);
  });
});

describe('AlertMonitor', () => {
  it('keeps `since` while an alert holds and starts over on a new history', () => {
    const h = append(emptyHistory(), rows(10, () => ({ loss: 1.0 })));
    append(h, rows(10, () => ({ loss: 1.5 })));
    const m = new AlertMonitor();
    expect(m.update(h)[0].since).toBe(20);
    append(h, rows(2, () => ({ loss: 1.5 })));
    expect(m.update(h)[0].since).toBe(20);
    // A different model's history: new arrays, nothing carried over.
    const other = append(emptyHistory(), rows(40, () => ({ tps: 800, loss: 1 })));
    expect(kinds(m, other)).toEqual([]);
  });
});

describe('Alerts.svelte', () => {
  it('renders one `alert` per active rule with its kind, message and step (server-rendered)', async () => {
    const { compile } = await import('svelte/compiler');
    const { render } = await import('svelte/server');
    const { mkdirSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { join, resolve } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { createRequire } = await import('node:module');
    // Compiled outside node_modules so Vitest transforms it (its imports of lib/*.ts included); Svelte's server
    // runtime is imported by its resolved path, the same module `svelte/server` uses.
    const out = join(tmpdir(), `ui-alerts-render-${process.pid}`);
    mkdirSync(out, { recursive: true });
    const runtime = createRequire(import.meta.url).resolve('svelte/internal/server');
    const file = 'src/ui/components/Alerts.svelte';
    const { js, warnings } = compile(readFileSync(file, 'utf8'), { generate: 'server', filename: file });
    expect(warnings.map((w) => w.message)).toEqual([]);
    writeFileSync(join(out, 'Alerts.js'), js.code.replace(/from '\.\.\/lib\//g, `from '${resolve('src/ui/lib')}/`).replace(/from 'svelte\/internal\/server'/g, `from '${runtime}'`));
    const Alerts = ((await import(join(out, 'Alerts.js'))) as { default: import('svelte').Component<Record<string, unknown>> }).default;
    rmSync(out, { recursive: true, force: true });

    const h = append(emptyHistory(), rows(10, () => ({ loss: 1.0 })));
    append(h, rows(10, () => ({ loss: 1.5 })));
    const html = render(Alerts, { props: { history: h, latestEval: { step: 20, valLoss: 2.2, trainLoss: 1.5 } } }).body;
    const tags = [...html.matchAll(/<li[^>]*data-testid="alert"[^>]*>/g)].map((m) => m[0]);
    expect(tags.map((t) => t.match(/data-kind="([^"]*)"/)?.[1])).toEqual(['val_gap', 'loss_rising']);
    expect(html).toContain('Validation loss 2.20 is 0.70 above the training loss 1.50 at step 20');
    expect(html).toContain('since step 20');
    const calm = render(Alerts, { props: { history: append(emptyHistory(), rows(30, () => ({ loss: 1.0 }))), latestEval: undefined } }).body;
    expect(calm).not.toContain('data-testid="alert"');
  });
});
