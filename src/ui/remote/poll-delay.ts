/**
 * How long the inference-node panel waits before its next health poll: the normal interval while the node
 * answers, doubling with each poll in a row that found it down, capped (a down node is not hammered).
 */
export const MAX_DOWN_POLL_MS = 60_000;

export function nextPollDelay(intervalMs: number, downPollsInARow: number, maxMs = MAX_DOWN_POLL_MS): number {
  if (!(intervalMs > 0)) throw new Error(`poll interval must be a positive number of ms, got ${intervalMs}`);
  const n = Math.max(0, Math.min(Math.floor(downPollsInARow), 16));
  return Math.min(Math.max(maxMs, intervalMs), intervalMs * 2 ** n);
}
