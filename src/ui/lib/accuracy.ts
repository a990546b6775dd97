// Running accuracy of sample answers as the old system showed it: overall, over the last 20 and the last 50, and a
// trend (the last 10 against the 10 before: improving / stable / degrading). Pure functions.

export interface AccuracySummary {
  overall: number | null;
  last20: number | null;
  last50: number | null;
  trend: 'improving' | 'stable' | 'degrading' | 'unknown';
  total: number;
}

const rate = (xs: readonly boolean[]) => (xs.length ? xs.filter(Boolean).length / xs.length : null);

/**
 * @param recent matches in step order (oldest first), at least the last 50 when there are that many
 * @param totals overall counts (may cover more samples than `recent`)
 */
export function summarizeAccuracy(recent: readonly boolean[], totals?: { correct: number; total: number }): AccuracySummary {
  const total = totals?.total ?? recent.length;
  const overall = totals ? (totals.total ? totals.correct / totals.total : null) : rate(recent);
  let trend: AccuracySummary['trend'] = 'unknown';
  if (recent.length >= 20) {
    const a = rate(recent.slice(-20, -10))!;
    const b = rate(recent.slice(-10))!;
    trend = b > a + 0.05 ? 'improving' : b < a - 0.05 ? 'degrading' : 'stable';
  }
  return { overall, last20: rate(recent.slice(-20)), last50: rate(recent.slice(-50)), trend, total };
}
