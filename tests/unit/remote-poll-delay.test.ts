// The panel's health polling: normal pace while the node is up, doubling while it is down, capped at a minute.
import { describe, expect, it } from 'vitest';
import { MAX_DOWN_POLL_MS, nextPollDelay } from '../../src/ui/remote/poll-delay.ts';

describe('nextPollDelay', () => {
  it('keeps the interval while up, doubles while down, caps at the maximum', () => {
    expect(nextPollDelay(5000, 0)).toBe(5000);
    expect([1, 2, 3].map((n) => nextPollDelay(5000, n))).toEqual([10_000, 20_000, 40_000]);
    expect(nextPollDelay(5000, 4)).toBe(MAX_DOWN_POLL_MS);
    expect(nextPollDelay(5000, 1000)).toBe(MAX_DOWN_POLL_MS);
    expect(nextPollDelay(120_000, 3)).toBe(120_000); // an interval above the cap is kept
  });
  it('refuses a non-positive interval', () => {
    expect(() => nextPollDelay(0, 0)).toThrow(/positive/);
  });
});
