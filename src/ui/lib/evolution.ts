/**
 * The evolution viewer's logic: one prompt's snapshots by step (a step taken twice keeps its latest), a word diff of
 * each answer against the previous snapshot, and the table's filter and sort.
 */
import type { SampleRow } from '../../store/db.ts';
import { outcomeLabel } from '../../profiles/outcome.ts';

export interface DiffPart {
  text: string;
  op: 'same' | 'add' | 'del';
}

/** Word-level diff of `before` → `after` (longest common subsequence of whitespace-separated words, spaces kept). */
export function wordDiff(before: string, after: string): DiffPart[] {
  const a = before.split(/(\s+)/).filter((w) => w !== ''), b = after.split(/(\s+)/).filter((w) => w !== '');
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: DiffPart[] = [];
  const push = (text: string, op: DiffPart['op']) => (out.length && out[out.length - 1].op === op ? (out[out.length - 1].text += text) : out.push({ text, op }));
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      push(a[i++], 'same');
      j++;
    }
    else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) push(b[j++], 'add');
    else push(a[i++], 'del');
  }
  return out;
}

/** The fixed prompts seen in the snapshots: index and text, by index. */
export function evolutionPrompts(rows: readonly SampleRow[]): { index: number; prompt: string }[] {
  const seen = new Map<number, string>();
  for (const r of rows) if (r.promptIndex !== undefined && !seen.has(r.promptIndex)) seen.set(r.promptIndex, r.prompt);
  return [...seen.entries()].sort((x, y) => x[0] - y[0]).map(([index, prompt]) => ({ index, prompt }));
}

/** One prompt's snapshots by step, each with its diff against the previous one (null for the first). */
export function promptTimeline(rows: readonly SampleRow[], promptIndex: number): { row: SampleRow; diff: DiffPart[] | null }[] {
  const byStep = new Map<number, SampleRow>();
  for (const r of rows) if (r.promptIndex === promptIndex) byStep.set(r.step, r);
  const steps = [...byStep.values()].sort((x, y) => x.step - y.step);
  return steps.map((row, k) => ({ row, diff: k === 0 ? null : wordDiff(steps[k - 1].answer, row.answer) }));
}

export type EvolutionSortKey = 'step' | 'promptIndex' | 'match' | 'ms';

/** Rows whose prompt, answer or outcome contains `filter` (case-insensitive), sorted by `key`. */
export function evolutionTable(rows: readonly SampleRow[], filter: string, key: EvolutionSortKey, descending: boolean): SampleRow[] {
  const f = filter.trim().toLowerCase();
  const kept = f ? rows.filter((r) => `${r.prompt}\n${r.answer}\n${r.outcome ? outcomeLabel(r.outcome) : ''}`.toLowerCase().includes(f)) : [...rows];
  const value = (r: SampleRow) => (key === 'match' ? Number(r.match) : (r[key] ?? 0));
  return kept.sort((x, y) => (value(x) - value(y) || x.step - y.step || (x.promptIndex ?? 0) - (y.promptIndex ?? 0)) * (descending ? -1 : 1));
}
