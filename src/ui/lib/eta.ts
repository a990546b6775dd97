// ETA for the current file and the whole queue from an estimator that learns the observed time per token
// (an exponential moving average of ms/token over logged steps), not from a fixed table.

export interface ThroughputSample {
  /** Tokens processed since the previous sample. */
  tokens: number;
  /** Wall-clock milliseconds since the previous sample. */
  ms: number;
}

export class EtaEstimator {
  private msPerToken: number | null = null;
  /** @param alpha weight of a new sample in the moving average, in (0, 1]. */
  constructor(private readonly alpha = 0.2) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
  }

  /** Feeds one observation; samples without tokens or time are ignored. */
  observe(s: ThroughputSample): void {
    if (!(s.tokens > 0 && s.ms > 0)) return;
    const x = s.ms / s.tokens;
    this.msPerToken = this.msPerToken == null ? x : this.alpha * x + (1 - this.alpha) * this.msPerToken;
  }

  /** Learned milliseconds per token, null before the first observation. */
  get rate(): number | null {
    return this.msPerToken;
  }

  /** Seconds to process `tokens` more tokens, null while nothing has been learned. */
  secondsFor(tokens: number): number | null {
    if (this.msPerToken == null || !(tokens >= 0)) return null;
    return (tokens * this.msPerToken) / 1000;
  }
}

/**
 * Tokens left in a file from its step progress when only steps are known: remaining steps × the observed
 * average tokens per step.
 */
export function remainingTokens(stepsLeft: number, tokensPerStep: number): number {
  return Math.max(0, stepsLeft) * Math.max(0, tokensPerStep);
}
