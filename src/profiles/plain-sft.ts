/** plain_sft: messages as they are (plus an optional system prompt), exact match after trimming. */
import type { ChatExample, ChatMessage } from '../engine/types.ts';
import { basicIssues, fillDate, throwIfIssues, withSystem } from './common.ts';
import type { CompareResult, Profile, ProfileIssue, ProfileOptions, ProfileProcessors, TransformContext } from './types.ts';

/** Static facts about the profile (the registry's catalog reads them without building one). */
export const PLAIN_SFT_INFO = {
  name: 'plain_sft',
  description: 'Messages as they are, with an optional system prompt; exact match after trimming.',
  version: '1.0.0',
  chatTemplate: 'stock',
} as const;

export function createPlainSft(options: ProfileOptions = {}): Profile {
  const template = options.systemPrompt ?? null;
  const defaultDate = options.date ?? new Date();
  const systemPrompt = (date: Date): string | null => (template === null ? null : fillDate(template, date));
  return {
    ...PLAIN_SFT_INFO,
    systemPrompt,
    validate(example: ChatExample): ProfileIssue[] {
      return basicIssues(example);
    },
    transform(example: ChatExample, index: number, ctx: TransformContext = {}): ChatMessage[] {
      throwIfIssues('plain_sft', index, basicIssues(example));
      return withSystem(example.messages, systemPrompt(ctx.date ?? defaultDate), false);
    },
    logitsProcessors(): ProfileProcessors {
      return { processors: [], stats: () => [] };
    },
    compare(modelAnswer: string, golden: string): CompareResult {
      const match = modelAnswer.trim() === golden.trim();
      return { match, score: match ? 1 : 0, details: { answerLength: modelAnswer.trim().length, goldenLength: golden.trim().length } };
    },
  };
}
