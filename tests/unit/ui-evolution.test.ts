import { describe, expect, it } from 'vitest';
import type { SampleRow } from '../../src/store/db.ts';
import { evolutionPrompts, evolutionTable, promptTimeline, wordDiff } from '../../src/ui/lib/evolution.ts';

const snap = (step: number, promptIndex: number, answer: string, over: Partial<SampleRow> = {}): SampleRow => ({
  modelId: 'm', step, time: 0, itemId: 1, prompt: `p${promptIndex}`, golden: 'g', answer, match: false, stopReason: 'eos', ms: step, kind: 'evolution', promptIndex, ...over,
});

describe('evolution viewer logic', () => {
  it('diffs words: kept, added and removed runs', () => {
    expect(wordDiff('the cat sat', 'the dog sat down')).toEqual([
      { text: 'the ', op: 'same' }, { text: 'dog', op: 'add' }, { text: 'cat', op: 'del' }, { text: ' sat', op: 'same' }, { text: ' down', op: 'add' },
    ]);
    expect(wordDiff('', 'a b')).toEqual([{ text: 'a b', op: 'add' }]);
    expect(wordDiff('same', 'same')).toEqual([{ text: 'same', op: 'same' }]);
  });

  it('shows one prompt across steps with the change from the previous snapshot; a retaken step keeps its latest', () => {
    const rows = [snap(0, 0, 'x'), snap(0, 1, 'other'), snap(10, 0, 'x y'), snap(25, 0, 'old'), snap(25, 0, 'z y')];
    expect(evolutionPrompts(rows)).toEqual([{ index: 0, prompt: 'p0' }, { index: 1, prompt: 'p1' }]);
    const t = promptTimeline(rows, 0);
    expect(t.map((e) => [e.row.step, e.row.answer])).toEqual([[0, 'x'], [10, 'x y'], [25, 'z y']]);
    expect(t[0].diff).toBeNull();
    expect(t[1].diff).toEqual([{ text: 'x', op: 'same' }, { text: ' y', op: 'add' }]);
    expect(t[2].diff).toEqual([{ text: 'z', op: 'add' }, { text: 'x', op: 'del' }, { text: ' y', op: 'same' }]);
  });

  it('filters the table by prompt, answer or outcome text and sorts by a column either way', () => {
    const rows = [snap(5, 0, 'Paris', { match: true }), snap(1, 1, 'London'), snap(3, 0, 'paris?', { outcome: { kind: 'regime3', result: 'decode_failure', reason: 'r' } })];
    expect(evolutionTable(rows, 'PARIS', 'step', false).map((r) => r.step)).toEqual([3, 5]);
    expect(evolutionTable(rows, 'decode', 'step', false).map((r) => r.step)).toEqual([3]);
    expect(evolutionTable(rows, '', 'step', true).map((r) => r.step)).toEqual([5, 3, 1]);
    expect(evolutionTable(rows, '', 'match', true)[0].answer).toBe('Paris');
    expect(evolutionTable(rows, '', 'promptIndex', false).map((r) => r.promptIndex)).toEqual([0, 0, 1]);
  });
});
