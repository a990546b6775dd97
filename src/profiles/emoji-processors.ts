/**
 * Generation-time logits processors of emoji_think: a step-scheduled penalty on `<think>`/`</think>`,
 * and the post-stop suppression that ends generation right after the requested stop signal.
 * Processors adjust the logits in place and return them; each keeps statistics, reset at step 0.
 */
import type { ChatTokenizer, LogitsProcessor } from '../engine/types.ts';
import { endsWithStopSignal, leadingThinkRun, trailingStopRun, type EmojiRun } from './emoji-contract.ts';
import type { ProcessorStats } from './types.ts';

export const THINK_TAG_PENALTY = 80;
/** Emojis are several byte-level tokens; 64 generated ids always cover a stop run of 4. */
const TAIL_IDS = 64;

/** Multiplier of the think-tag penalty at a generated step: ×8 (0–3), ×2 (4–7), ×1.5 (8–11), ×1 after. */
export function thinkPenaltySchedule(step: number): number {
  if (step < 4) return 8;
  if (step < 8) return 2;
  if (step < 12) return 1.5;
  return 1;
}

/** Amount every logit but end-of-turn drops at post-stop step n (0 = the step the signal is complete). */
export function postStopSuppression(n: number): number {
  return 100 * 10 ** n;
}
export const END_OF_TURN_BONUS = 50;

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export interface StatefulProcessor {
  process: LogitsProcessor;
  stats(): ProcessorStats;
}

/**
 * Penalises `<think>` and `</think>` by 80 × thinkPenaltySchedule(step). hits = steps where a penalised
 * token had the highest logit before the penalty. Also reports the thinking prefix generated so far.
 */
export function thinkTagPenalty(tokenizer: ChatTokenizer): StatefulProcessor {
  const ids = ['<think>', '</think>'].map((t) => tokenizer.tokenToId(t)).filter((id): id is number => id !== undefined);
  let steps = 0;
  let hits = 0;
  let lastIds: number[] = [];
  return {
    process(generatedIds, logits, step) {
      if (step === 0) {
        steps = 0;
        hits = 0;
      }
      steps++;
      lastIds = generatedIds.slice(0, 32);
      if (ids.length === 0) return logits;
      const top = argmax(logits);
      if (ids.includes(top)) hits++;
      const penalty = THINK_TAG_PENALTY * thinkPenaltySchedule(step);
      for (const id of ids) if (id < logits.length) logits[id] -= penalty;
      return logits;
    },
    stats() {
      const run = leadingThinkRun(tokenizer.decode(lastIds, { skipSpecialTokens: true }).trimStart()).run;
      return { name: 'think_tag_penalty', steps, hits, emoji: run?.emoji ?? null, count: run?.count ?? 0 };
    },
  };
}

/**
 * Once the generated text ends with `request.emoji` exactly `request.count` times, every logit but
 * end-of-turn drops by postStopSuppression(n) at post-stop step n and end-of-turn gains 50.
 * Without a request (none in the prompt) it only watches. hits = suppressed steps.
 */
export function stopSignalProcessor(tokenizer: ChatTokenizer, request: EmojiRun | null): StatefulProcessor {
  const eot = tokenizer.eosTokenId;
  let steps = 0;
  let hits = 0;
  let stopAt = -1;
  let detected: EmojiRun | null = null;
  return {
    process(generatedIds, logits, step) {
      if (step === 0) {
        steps = 0;
        hits = 0;
        stopAt = -1;
        detected = null;
      }
      steps++;
      const tail = tokenizer.decode(generatedIds.slice(-TAIL_IDS), { skipSpecialTokens: true });
      detected = trailingStopRun(tail).run;
      if (stopAt < 0 && request && tail.trimEnd().endsWith(request.emoji) && endsWithStopSignal(tail, request)) stopAt = step;
      if (stopAt < 0) return logits;
      const drop = postStopSuppression(step - stopAt);
      for (let i = 0; i < logits.length; i++) if (i !== eot) logits[i] -= drop;
      if (eot < logits.length) logits[eot] += END_OF_TURN_BONUS;
      hits++;
      return logits;
    },
    stats() {
      return { name: 'stop_signal', steps, hits, stopSeen: stopAt >= 0, emoji: detected?.emoji ?? null, count: detected?.count ?? 0 };
    },
  };
}
