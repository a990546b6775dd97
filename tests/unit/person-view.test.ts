// The pure parts of issue 14's person view: events worth a notification between two snapshots, the tab title, the
// keyboard shortcut mapping, CSV formatting of the exports, and a queue item's training-time estimate and histogram.
import { describe, expect, it } from 'vitest';
import { detectEvents, tabTitle, type WatchSnapshot } from '../../src/ui/lib/notify-events.ts';
import { shortcutAction } from '../../src/ui/lib/shortcuts.ts';
import { csvField, toCsv } from '../../src/ui/lib/csv.ts';
import { evalExportRows, METRIC_COLUMNS } from '../../src/ui/lib/export-data.ts';
import { estimateTrainSeconds, histogramBars } from '../../src/ui/lib/data-profile.ts';
import { ScrollMemory, tabFromHash } from '../../src/ui/lib/tabs.ts';
import type { DataProfile, ItemStatus, MetricRow } from '../../src/store/db.ts';

const snap = (o: Partial<Omit<WatchSnapshot, 'items'>> & { items?: [number, ItemStatus][] } = {}): WatchSnapshot => ({
  modelId: 'm',
  daemonStatus: 'training',
  lastFault: null,
  bestVal: null,
  bestEval: new Map(),
  plateau: false,
  ...o,
  items: new Map((o.items ?? []).map(([id, status]) => [id, { name: `f${id}.jsonl`, status, reason: status === 'failed' ? 'bad data' : undefined }])),
});
const kinds = (prev: WatchSnapshot | null, next: WatchSnapshot) => detectEvents(prev, next).map((e) => e.kind);

describe('detectEvents', () => {
  it('nothing from the first snapshot (what was stored before the page opened is not news)', () => {
    expect(kinds(null, snap({ items: [[1, 'failed']], daemonStatus: 'crashed', lastFault: { id: 3, message: 'x' } }))).toEqual([]);
  });

  it('queue finished when the last queued or training file is done; not while one still waits or validates', () => {
    const before = snap({ items: [[1, 'completed'], [2, 'processing']] });
    expect(kinds(before, snap({ items: [[1, 'completed'], [2, 'completed']], daemonStatus: 'idle' }))).toEqual(['queue_finished']);
    expect(kinds(before, snap({ items: [[1, 'completed'], [2, 'completed'], [3, 'validating']] }))).toEqual([]);
    expect(kinds(before, snap({ items: [[1, 'completed'], [2, 'paused']] }))).toEqual([]);
    // Nothing was training: an idle queue staying idle is no event; deleting the last waiting file is no finish.
    expect(kinds(snap({ items: [[1, 'completed']] }), snap({ items: [[1, 'completed']] }))).toEqual([]);
    expect(kinds(snap({ items: [[1, 'completed'], [2, 'queued']] }), snap({ items: [[1, 'completed']] }))).toEqual([]);
    // A file that fails validation while nothing else waits: that file failed, the queue did not finish anything.
    expect(kinds(snap({ items: [[3, 'validating']] }), snap({ items: [[3, 'failed']] }))).toEqual(['file_failed']);
  });

  it('a file that fails (the last one too: failed and queue finished), with the reason in the body', () => {
    const ev = detectEvents(snap({ items: [[1, 'processing']] }), snap({ items: [[1, 'failed']], daemonStatus: 'idle' }));
    expect(ev.map((e) => e.kind)).toEqual(['file_failed', 'queue_finished']);
    expect(ev[0]).toMatchObject({ title: 'File failed: f1.jsonl', body: 'bad data' });
    expect(ev[1].body).toBe('0 files trained, 1 failed.');
  });

  it('a new fault or crash row in the event log; a crashed status without one', () => {
    const a = snap({ lastFault: { id: 4, message: 'old' } });
    expect(detectEvents(a, snap({ lastFault: { id: 7, message: 'device lost' } }))).toMatchObject([{ kind: 'trainer_fault', body: 'device lost' }]);
    expect(kinds(a, snap({ lastFault: { id: 4, message: 'old' } }))).toEqual([]);
    expect(kinds(snap(), snap({ daemonStatus: 'crashed' }))).toEqual(['trainer_fault']);
  });

  it('a new best validation loss or eval EM beats an earlier one of the same model; the first result is not "new"', () => {
    expect(kinds(snap(), snap({ bestVal: { loss: 2, step: 5 } }))).toEqual([]);
    expect(kinds(snap({ bestVal: { loss: 2, step: 5 } }), snap({ bestVal: { loss: 1.5, step: 10 } }))).toEqual(['new_best']);
    expect(kinds(snap({ bestVal: { loss: 2, step: 5 } }), snap({ modelId: 'other', bestVal: { loss: 1.5, step: 10 } }))).toEqual([]);
    const e1 = new Map([['set', { em: 0.2, step: 0 }]]);
    const e2 = new Map([['set', { em: 0.5, step: 8 }]]);
    const ev = detectEvents(snap({ bestEval: e1 }), snap({ bestEval: e2 }));
    expect(ev).toMatchObject([{ kind: 'new_best', title: 'New best on set: EM 50.0 %' }]);
    expect(kinds(snap({ bestEval: e2 }), snap({ bestEval: e2 }))).toEqual([]);
  });

  it('plateau when the alert starts holding, once', () => {
    expect(kinds(snap(), snap({ plateau: true }))).toEqual(['plateau']);
    expect(kinds(snap({ plateau: true }), snap({ plateau: true }))).toEqual([]);
  });
});

describe('tabTitle', () => {
  const t = { step: 120, fileStep: 30, fileSteps: 60, loss: 1.23456, waiting: 2, failed: 0 };
  it('says the state first', () => {
    expect(tabTitle({ ...t, status: 'training' })).toBe('▶ 50 % · step 120 · loss 1.235 — Training Workbench');
    expect(tabTitle({ ...t, status: 'paused' })).toBe('⏸ paused · step 120 — Training Workbench');
    expect(tabTitle({ ...t, status: 'crashed', failed: 1 })).toBe('✖ crashed · 1 failed — Training Workbench');
    expect(tabTitle({ ...t, status: 'idle', waiting: 0 })).toBe('✓ done · step 120 — Training Workbench');
    expect(tabTitle({ ...t, status: 'idle', waiting: 0, step: 0 })).toBe('○ idle — Training Workbench');
  });
});

describe('shortcutAction', () => {
  const key = (key: string, o: object = {}) => ({ key, target: { tagName: 'BODY' }, ...o });
  it('space pauses while training (or idle) and resumes when paused, stopped or crashed; s stops; ? helps', () => {
    expect(shortcutAction(key(' '), 'training')).toBe('pause');
    expect(shortcutAction(key(' '), 'idle')).toBe('pause');
    expect(shortcutAction(key(' '), 'paused')).toBe('resume');
    expect(shortcutAction(key(' '), 'crashed')).toBe('resume');
    expect(shortcutAction(key('s'), 'training')).toBe('stop');
    expect(shortcutAction(key('s'), 'idle')).toBeNull();
    expect(shortcutAction(key('?'), 'idle')).toBe('help');
    expect(shortcutAction(key('x'), 'training')).toBeNull();
  });
  it('never while typing, with a modifier, on a key repeat, or space on a focused button', () => {
    for (const tagName of ['INPUT', 'TEXTAREA', 'SELECT', 'input']) expect(shortcutAction(key('s', { target: { tagName } }), 'training')).toBeNull();
    expect(shortcutAction(key('s', { target: { tagName: 'DIV', isContentEditable: true } }), 'training')).toBeNull();
    expect(shortcutAction(key('s', { ctrlKey: true }), 'training')).toBeNull();
    expect(shortcutAction(key('s', { metaKey: true }), 'training')).toBeNull();
    expect(shortcutAction(key(' ', { repeat: true }), 'training')).toBeNull();
    expect(shortcutAction(key(' ', { target: { tagName: 'BUTTON' } }), 'training')).toBeNull();
    expect(shortcutAction(key('?', { target: null }), 'training')).toBe('help');
  });
});

describe('CSV', () => {
  it('quotes commas, quotes and line breaks; doubles quotes; empty for null; no formula injection', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(null)).toBe('');
    expect(csvField(NaN)).toBe('');
    expect(csvField(-0.5)).toBe('-0.5');
    expect(csvField('-0.5')).toBe('-0.5');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField(true)).toBe('true');
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
  });
  it('metric rows: header then one CRLF row each, ISO time, numbers unformatted', () => {
    const m: MetricRow = { modelId: 'm', step: 3, time: Date.UTC(2026, 0, 2, 3, 4, 5), itemId: 1, fileStep: 3, loss: 1.25, lr: 0.0003, gradNorm: null, tokens: 96, ms: 410, tokensPerSecond: 234.1 };
    expect(toCsv([m], METRIC_COLUMNS)).toBe('step,time,item_id,file_step,loss,lr,grad_norm,tokens,ms,tokens_per_second,skipped\r\n3,2026-01-02T03:04:05.000Z,1,3,1.25,0.0003,,96,410,234.1,false\r\n');
  });
  it('eval rows: validation and eval-set results merged by step', () => {
    const rows = evalExportRows(
      [{ modelId: 'm', step: 4, time: 2, itemId: 1, valLoss: 1.1, trainLoss: 1.0, examples: 3 }],
      [{ evalSetId: 1, setName: 'set', modelId: 'm', step: 0, time: 1, ms: 5, timeShare: 0, answers: [], em: 0.5, loss: 2, ece: 0.1, examples: 4, tokens: 9, bySkill: {}, byDifficulty: {} }],
    );
    expect(rows.map((r) => [r.kind, r.step, r.loss, r.em])).toEqual([['eval_set', 0, 2, 0.5], ['validation', 4, 1.1, null]]);
  });
});

describe('data profile', () => {
  const data: DataProfile = {
    maxLength: 64,
    warnings: [],
    tokens: { min: 10, mean: 30, p50: 30, p95: 60, max: 90, totalTokens: 3000, trainedTokens: 800, fedTokens: 2000, histogram: { binWidth: 16, counts: [1, 4, 2, 2], over: 1, maxLength: 64 } },
  };
  it('training time: tokens read × trained share × epochs × what is left × ms per token', () => {
    expect(estimateTrainSeconds({ data, examples: 10, heldOut: 2, epochs: 2, done: 0.5, msPerToken: 3 })).toBeCloseTo((2000 * 0.8 * 2 * 0.5 * 3) / 1000, 9);
    expect(estimateTrainSeconds({ data, examples: 10, heldOut: 0, epochs: 1, done: 0, msPerToken: null })).toBeNull();
    expect(estimateTrainSeconds({ data, examples: 10, heldOut: 0, epochs: 1, done: 1, msPerToken: 2 })).toBe(0);
  });
  it('histogram bars: bins 1..maxLength, then the longer ones, heights relative to the tallest', () => {
    const bars = histogramBars(data);
    expect(bars.map((b) => [b.from, b.to, b.count, b.over])).toEqual([[1, 16, 1, false], [17, 32, 4, false], [33, 48, 2, false], [49, 64, 2, false], [65, 90, 1, true]]);
    expect(bars[1].height).toBe(1);
    expect(bars[0].height).toBe(0.25);
  });
});

describe('tabs', () => {
  it('the hash names a tab (any case); anything else is the Training tab', () => {
    expect(tabFromHash('#evaluation')).toBe('evaluation');
    expect(tabFromHash('#Settings')).toBe('settings');
    expect(tabFromHash('')).toBe('training');
    expect(tabFromHash('#nope')).toBe('training');
  });
  it('each tab gets back the scroll position it was left at (0 the first time)', () => {
    const m = new ScrollMemory();
    expect(m.enter('data')).toBe(0);
    m.leave('training', 640);
    m.leave('data', 120);
    expect(m.enter('training')).toBe(640);
    expect(m.enter('data')).toBe(120);
  });
});
