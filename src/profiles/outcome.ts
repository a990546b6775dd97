/**
 * What a profile's verdict on one answer records beyond match, for samples and evals alike: emoji_think's contract
 * (thinking emoji and count, stop emoji and count, followed or not) and regime3's outcome (right, wrong, decode
 * failure with the reason); plain_sft has none. `outcomeLabel` names an outcome and `countOutcomes` tallies them.
 */
import type { CompareResult } from './types.ts';

export interface EmojiContractOutcome {
  kind: 'emoji_contract';
  thinkEmoji: string | null;
  thinkCount: number;
  stopEmoji: string | null;
  stopCount: number;
  followed: boolean;
}

export interface Regime3Outcome {
  kind: 'regime3';
  /** golden_invalid: the golden answer itself did not decode (a data problem, not the model's). */
  result: 'right' | 'wrong' | 'decode_failure' | 'golden_invalid';
  /** Why decoding failed (the model's answer, or the golden one for golden_invalid); null otherwise. */
  reason: string | null;
}

export type AnswerOutcome = EmojiContractOutcome | Regime3Outcome;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** The outcome of profile `profile`'s compare `details`; null for a profile without one (plain_sft). */
export function answerOutcome(profile: string, details: CompareResult['details']): AnswerOutcome | null {
  if (profile === 'emoji_think') {
    return {
      kind: 'emoji_contract',
      thinkEmoji: str(details.thinkEmoji),
      thinkCount: num(details.thinkCount),
      stopEmoji: str(details.stopEmoji),
      stopCount: num(details.stopCount),
      followed: details.contractFollowed === true,
    };
  }
  if (profile === 'regime3') {
    const o = details.outcome;
    const result = o === 'match' ? 'right' : o === 'decode_failure' || o === 'golden_invalid' ? o : 'wrong';
    const reason = result === 'decode_failure' ? str(details.decodeError) : result === 'golden_invalid' ? str(details.goldenError) : null;
    return { kind: 'regime3', result, reason };
  }
  return null;
}

/** One or two words for an outcome: "contract followed", "contract broken", "right", "wrong", "decode failure". */
export function outcomeLabel(o: AnswerOutcome): string {
  if (o.kind === 'emoji_contract') return o.followed ? 'contract followed' : 'contract broken';
  return o.result === 'decode_failure' ? 'decode failure' : o.result === 'golden_invalid' ? 'golden invalid' : o.result;
}

/** How many of `outcomes` have each label (absent outcomes are not counted), labels in first-seen order. */
export function countOutcomes(outcomes: readonly (AnswerOutcome | null | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) if (o) counts[outcomeLabel(o)] = (counts[outcomeLabel(o)] ?? 0) + 1;
  return counts;
}
