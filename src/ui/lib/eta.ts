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

/** What the queue ETA needs of an item (a subset of the store's QueueItemRow). */
export interface EtaItem {
  id?: number;
  status: string;
  progress: { fileStep: number; fileSteps: number };
  report?: { examples: number };
  heldOut: readonly number[];
}

/** The training config fields that turn examples into optimizer steps. */
export interface StepsConfig {
  batchSize: number;
  gradAccumSteps: number;
  epochs: number;
}

/**
 * Optimizer steps left in an item: the live position for the current item, its planned steps once known, else
 * estimated from its example count (without the held-out ones) as the trainer plans it: ceil(epochs · batches / accum).
 * Null when nothing is known yet (still validating).
 */
export function stepsLeft(item: EtaItem, live: { itemId: number | null; fileStep: number; fileSteps: number } | undefined, cfg: StepsConfig | undefined): number | null {
  if (live && live.itemId === item.id && live.fileSteps > 0) return Math.max(0, live.fileSteps - live.fileStep);
  if (item.progress.fileSteps > 0) return Math.max(0, item.progress.fileSteps - item.progress.fileStep);
  if (!item.report || !cfg) return null;
  const examples = Math.max(0, item.report.examples - item.heldOut.length);
  if (examples === 0) return 0;
  return Math.max(1, Math.ceil((cfg.epochs * Math.ceil(examples / cfg.batchSize)) / cfg.gradAccumSteps));
}

const PENDING = new Set(['queued', 'processing', 'paused']);

/** Steps left in the whole queue (items queued, processing or paused); `unknown` counts items not yet sized. */
export function queueStepsLeft(items: readonly EtaItem[], live: Parameters<typeof stepsLeft>[1], cfg: StepsConfig | undefined): { steps: number; unknown: number } {
  let steps = 0;
  let unknown = 0;
  for (const it of items) {
    if (!PENDING.has(it.status)) continue;
    const left = stepsLeft(it, live, cfg);
    if (left == null) unknown++;
    else steps += left;
  }
  return { steps, unknown };
}
