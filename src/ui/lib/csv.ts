// CSV text (RFC 4180: comma separated, CRLF rows, a field with a comma, quote or line break quoted, quotes doubled)
// from rows and named columns; a value that a spreadsheet would run as a formula is prefixed with a quote mark.
// Pure, used by the page's metric, eval and sample exports.

export interface CsvColumn<T> {
  header: string;
  value: (row: T) => unknown;
}

/** Leading characters that Excel, LibreOffice and Sheets read as a formula (CSV injection). */
const FORMULA = /^[=+\-@\t\r]/;

/** One field: null/undefined empty, numbers as JavaScript writes them (no locale), objects as JSON. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'number') s = Number.isFinite(v) ? String(v) : '';
  else if (typeof v === 'boolean') s = v ? 'true' : 'false';
  else if (typeof v === 'string') s = FORMULA.test(v) && !/^-?\d/.test(v) ? `'${v}` : v;
  else s = JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The header row and one row per item, CRLF-terminated. */
export function toCsv<T>(rows: Iterable<T>, columns: readonly CsvColumn<T>[]): string {
  const lines = [columns.map((c) => csvField(c.header)).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(c.value(r))).join(','));
  return lines.join('\r\n') + '\r\n';
}
