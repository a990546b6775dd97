// Formatting of numbers the page shows: bytes, durations, losses, counts. Pure functions, no DOM.

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** 1536 → "1.5 KB" (powers of 1024, one decimal from KB up). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${BYTE_UNITS[u]}`;
}

/** Seconds → "42 s", "3 min 05 s", "2 h 07 min", "3 d 4 h"; null/NaN/negative → "—". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A loss with 4 significant decimals; null → "—". */
export function formatLoss(loss: number | null | undefined): string {
  if (loss == null || !Number.isFinite(loss)) return '—';
  return loss.toFixed(4);
}

/** A learning rate in engineering form: 0.0002 → "2.00e-4". */
export function formatLr(lr: number | null | undefined): string {
  if (lr == null || !Number.isFinite(lr)) return '—';
  return lr === 0 ? '0' : lr.toExponential(2).replace('e+', 'e');
}

/** 12345 → "12,345"; rounds to an integer. */
export function formatCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}

/** 0.4567 → "46 %". */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction == null || !Number.isFinite(fraction)) return '—';
  return `${Math.round(fraction * 100)} %`;
}
