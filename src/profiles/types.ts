/**
 * The Profile contract: how a raw chat example becomes training messages, which system prompt and
 * logits processors a profile uses, and how a model answer is scored against the golden one.
 * Implementations live beside this file; the registry is src/profiles/index.ts.
 */
import type { ChatExample, ChatMessage, ChatTemplateKind, ChatTokenizer, LogitsProcessor } from '../engine/types.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';

/** Where an example is used; regime-3's transitional mode reads `step`. */
export interface TransformContext {
  /** Global optimizer step the example is trained at (0 when unknown). */
  step?: number;
  /** Date filled into `{date}` of the system prompt; defaults to the profile's `date` option. */
  date?: Date;
}

/** One problem found by `validate`: the field (e.g. `messages[2].content`) and what is wrong. */
export interface ProfileIssue {
  field: string;
  message: string;
}

/** Running statistics of one logits processor, reset when a generation starts (step 0). */
export interface ProcessorStats {
  name: string;
  /** Steps the processor has seen in the current generation. */
  steps: number;
  /** Steps where it changed something that mattered (see each processor's doc). */
  hits: number;
  /** Stop processors: the requested stop signal has been generated. */
  stopSeen?: boolean;
  /** The emoji and run length found at the end of (stop) or start of (think) the generated text. */
  emoji?: string | null;
  count?: number;
}

/** The processors to pass to generate(), and a live view of their statistics. */
export interface ProfileProcessors {
  processors: LogitsProcessor[];
  stats(): ProcessorStats[];
}

/** Result of comparing a model answer with the golden answer. `details` is flat and JSON-safe. */
export interface CompareResult {
  match: boolean;
  /** In [0, 1]; 1 for a match. */
  score: number;
  details: Record<string, string | number | boolean | null>;
}

export interface Profile {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  /** The chat template the profile's training text is rendered with. */
  readonly chatTemplate: ChatTemplateKind;
  /** The system prompt for `date`, or null when the profile adds none. */
  systemPrompt(date: Date): string | null;
  /**
   * Training messages for example `index`. Pure: the same example, index and ctx always give the
   * same messages (draws come from rngFor(seed, index)). Throws ValidationError naming the field.
   */
  transform(example: ChatExample, index: number, ctx?: TransformContext): ChatMessage[];
  /** Problems that would make `transform` fail or mislead; empty when the example is usable. */
  validate?(example: ChatExample): ProfileIssue[];
  /**
   * Fresh processors for one generation. `prompt` is the conversation being answered (the
   * transformed messages without the assistant turn); emoji_think reads the requested stop signal from it.
   */
  logitsProcessors(tokenizer: ChatTokenizer, prompt?: readonly ChatMessage[]): ProfileProcessors;
  /** Compares a model answer with the golden one (the raw assistant content or its transformed form). */
  compare(modelAnswer: string, golden: string): CompareResult;
  /** Tokens the tokenizer must gain before training (regime-3 codes and answer markers). */
  addedTokens?(): string[];
}

/** regime3 data modes: every example coded, a fixed ratio kept plain, or a plain ratio moving over steps. */
export type Regime3Mode = 'pure' | 'mixed' | 'transitional';

export interface Regime3Options {
  /** The codebook (JSON from `regime3 build-codebook`); required for the regime3 profile. */
  codebook: CodebookData;
  /** Default 'pure'. */
  mode?: Regime3Mode;
  /** mixed: share of examples kept plain, in [0, 1]. Default 0.5. */
  plainRatio?: number;
  /** transitional: plain share moves linearly from `plainRatioStart` (step 0) to `plainRatioEnd` at `transitionSteps`. */
  plainRatioStart?: number;
  plainRatioEnd?: number;
  transitionSteps?: number;
  /** Also rewrite S-expressions found in the user prompt into codes. Default false. */
  encodePrompt?: boolean;
}

/** Options of getProfile; each profile reads the ones it knows and ignores the rest. */
export interface ProfileOptions {
  /** Seed of the per-example generators (rngFor(seed, index)). Default 0. */
  seed?: number;
  /** System prompt (template with `{date}` for emoji_think); plain_sft adds it when an example has none. */
  systemPrompt?: string;
  /** Date for `{date}` when the transform context gives none. Default: when the profile was made. */
  date?: Date;
  regime3?: Regime3Options;
}
