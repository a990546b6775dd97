// A model's metrics, evals (validation loss and eval-set results) and samples as CSV or JSON files to download:
// read from the store in step order (the current line of history), one row per stored row. The CSV columns are
// fixed here; the JSON holds the stored rows as they are (an eval-set result's answers included).
import type { EvalResultRow, EvalRow, MetricRow, SampleRow, WorkbenchDb } from '../../store/db.ts';
import { toCsv, type CsvColumn } from './csv.ts';

export type ExportWhat = 'metrics' | 'evals' | 'samples';
export type ExportFormat = 'csv' | 'json';

const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : '');

export const METRIC_COLUMNS: readonly CsvColumn<MetricRow>[] = [
  { header: 'step', value: (r) => r.step },
  { header: 'time', value: (r) => iso(r.time) },
  { header: 'item_id', value: (r) => r.itemId },
  { header: 'file_step', value: (r) => r.fileStep },
  { header: 'loss', value: (r) => r.loss },
  { header: 'lr', value: (r) => r.lr },
  { header: 'grad_norm', value: (r) => r.gradNorm },
  { header: 'tokens', value: (r) => r.tokens },
  { header: 'ms', value: (r) => r.ms },
  { header: 'tokens_per_second', value: (r) => r.tokensPerSecond },
  { header: 'skipped', value: (r) => r.skipped ?? false },
];

/** One row of the evals CSV: a validation loss or one eval set's result. */
export interface EvalExportRow {
  kind: 'validation' | 'eval_set';
  set: string;
  step: number;
  time: number;
  loss: number;
  trainLoss: number | null;
  em: number | null;
  ece: number | null;
  examples: number;
}

export const EVAL_COLUMNS: readonly CsvColumn<EvalExportRow>[] = [
  { header: 'kind', value: (r) => r.kind },
  { header: 'set', value: (r) => r.set },
  { header: 'step', value: (r) => r.step },
  { header: 'time', value: (r) => iso(r.time) },
  { header: 'loss', value: (r) => r.loss },
  { header: 'train_loss', value: (r) => r.trainLoss },
  { header: 'em', value: (r) => r.em },
  { header: 'ece', value: (r) => r.ece },
  { header: 'examples', value: (r) => r.examples },
];

export const SAMPLE_COLUMNS: readonly CsvColumn<SampleRow>[] = [
  { header: 'step', value: (r) => r.step },
  { header: 'time', value: (r) => iso(r.time) },
  { header: 'kind', value: (r) => r.kind ?? 'sample' },
  { header: 'branch', value: (r) => r.branch ?? 'main' },
  { header: 'item_id', value: (r) => r.itemId },
  { header: 'prompt', value: (r) => r.prompt },
  { header: 'golden', value: (r) => r.golden },
  { header: 'answer', value: (r) => r.answer },
  { header: 'match', value: (r) => r.match },
  { header: 'stop_reason', value: (r) => r.stopReason },
  { header: 'ms', value: (r) => r.ms },
];

/** Validation rows and eval-set results merged in step order (validation first at the same step). */
export function evalExportRows(validation: readonly EvalRow[], results: readonly (EvalResultRow & { setName: string })[]): EvalExportRow[] {
  const rows: EvalExportRow[] = [
    ...validation.map((v) => ({ kind: 'validation' as const, set: '', step: v.step, time: v.time, loss: v.valLoss, trainLoss: v.trainLoss, em: null, ece: null, examples: v.examples })),
    ...results.map((r) => ({ kind: 'eval_set' as const, set: r.setName, step: r.step, time: r.time, loss: r.loss, trainLoss: null, em: r.em, ece: r.ece, examples: r.examples })),
  ];
  return rows.sort((a, b) => a.step - b.step || (a.kind === b.kind ? a.time - b.time : a.kind === 'validation' ? -1 : 1));
}

/** The file to download: its name (model, what, format) and content. */
export async function exportModelData(db: WorkbenchDb, modelId: string, what: ExportWhat, format: ExportFormat): Promise<{ blob: Blob; fileName: string; rows: number }> {
  const range = (t: typeof db.metrics | typeof db.evals | typeof db.samples) => t.where('[modelId+step]').between([modelId, -Infinity], [modelId, Infinity]);
  let text: string;
  let rows: number;
  if (what === 'metrics') {
    const m = await range(db.metrics).toArray() as MetricRow[];
    rows = m.length;
    text = format === 'csv' ? toCsv(m, METRIC_COLUMNS) : JSON.stringify(m);
  } else if (what === 'samples') {
    const s = (await range(db.samples).toArray() as SampleRow[]).sort((a, b) => a.step - b.step || (a.id ?? 0) - (b.id ?? 0));
    rows = s.length;
    text = format === 'csv' ? toCsv(s, SAMPLE_COLUMNS) : JSON.stringify(s);
  } else {
    const validation = await range(db.evals).toArray() as EvalRow[];
    const sets = new Map((await db.evalSets.where('modelId').equals(modelId).toArray()).map((s) => [s.id!, s.name]));
    const results = (await db.evalResults.where('modelId').equals(modelId).toArray()).map((r) => ({ ...r, setName: sets.get(r.evalSetId) ?? `eval set ${r.evalSetId}` }));
    rows = validation.length + results.length;
    text = format === 'csv' ? toCsv(evalExportRows(validation, results), EVAL_COLUMNS) : JSON.stringify({ validation, evalSets: results });
  }
  const safe = modelId.replace(/[^\w.-]+/g, '_');
  return { blob: new Blob([text], { type: format === 'csv' ? 'text/csv' : 'application/json' }), fileName: `${safe}-${what}.${format}`, rows };
}
