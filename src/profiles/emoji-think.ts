/**
 * emoji_think: the contract of the system this replaces, kept exact. The user message asks the model
 * to "think" with an emoji repeated 2–8 times and to end with a stop emoji 2–4 times; the answer is
 * rewritten to follow the request, and generation stops right after the requested signal.
 */
import { rngFor } from '../engine/rng.ts';
import type { ChatExample, ChatMessage, ChatTokenizer } from '../engine/types.ts';
import { basicIssues, fillDate, lastIndexOfRole, throwIfIssues, withSystem } from './common.ts';
import {
  STOP_EMOJIS, STOP_MAX, STOP_MIN, THINK_EMOJIS, THINK_MAX, THINK_MIN, bare, leadingThinkRun, parseStopRequest,
  parseThinkRequest, startsWithThinkEmoji, stopInstruction, stripThinkTags, thinkInstruction, trailingStopEmojiCount,
  trailingStopRun, type EmojiRun,
} from './emoji-contract.ts';
import { stopSignalProcessor, thinkTagPenalty } from './emoji-processors.ts';
import type { CompareResult, Profile, ProfileIssue, ProfileOptions, ProfileProcessors, TransformContext } from './types.ts';

export const EMOJI_THINK_SYSTEM_PROMPT =
  'You are a careful assistant. Today is {date}. Before answering, think with the emoji you are given, ' +
  'as many times as you are asked; when finished, emit the stop emoji as instructed and end your turn.';

/** What transform decided for one example (exposed for previews and tests). */
export interface EmojiPlan {
  think: EmojiRun;
  stop: EmojiRun;
  addThinkInstruction: boolean;
  addPrefix: boolean;
  addStopInstruction: boolean;
  addSuffix: boolean;
}

/** The draws for example `index` (always four, in a fixed order) and the duplicate-skipping decisions. */
export function planEmojiExample(userText: string, answer: string, seed: number, index: number): EmojiPlan {
  const rng = rngFor(seed, index);
  const drawnThink = { emoji: rng.pick(THINK_EMOJIS), count: rng.int(THINK_MIN, THINK_MAX) };
  const drawnStop = { emoji: rng.pick(STOP_EMOJIS), count: rng.int(STOP_MIN, STOP_MAX) };
  const addThinkInstruction = !userText.includes('think with');
  const addStopInstruction = !(STOP_EMOJIS.some((e) => bare(userText).includes(bare(e))) && userText.includes('When finished'));
  // An instruction already present decides the emoji and count, so prefix and suffix agree with it.
  const think = (!addThinkInstruction && parseThinkRequest(userText)) || drawnThink;
  const stop = (!addStopInstruction && parseStopRequest(userText)) || drawnStop;
  const trailing = trailingStopEmojiCount(answer);
  return {
    think,
    stop,
    addThinkInstruction,
    addPrefix: !startsWithThinkEmoji(answer),
    addStopInstruction,
    addSuffix: !(trailing >= STOP_MIN && trailing <= STOP_MAX),
  };
}

function issues(example: ChatExample): ProfileIssue[] {
  const found = basicIssues(example);
  if (found.length === 0 && lastIndexOfRole(example.messages, 'user') < 0) {
    found.push({ field: 'messages', message: 'needs a user message to carry the emoji instructions' });
  }
  return found;
}

/** Strips the thinking prefix and the stop suffix; what remains is compared. */
function core(answer: string): { text: string; think: EmojiRun | null; stop: EmojiRun | null } {
  const lead = leadingThinkRun(stripThinkTags(answer));
  const trail = trailingStopRun(lead.rest);
  return { text: trail.rest.trim(), think: lead.run, stop: trail.run };
}

/** Static facts about the profile (the registry's catalog reads them without building one). */
export const EMOJI_THINK_INFO = {
  name: 'emoji_think',
  description: 'Think with a requested emoji run, end with a requested stop emoji run; generation ends at the signal.',
  version: '1.0.0',
  chatTemplate: 'chatml',
} as const;

export function createEmojiThink(options: ProfileOptions = {}): Profile {
  const seed = options.seed ?? 0;
  const template = options.systemPrompt ?? EMOJI_THINK_SYSTEM_PROMPT;
  const defaultDate = options.date ?? new Date();
  return {
    ...EMOJI_THINK_INFO,
    systemPrompt: (date) => fillDate(template, date),
    validate: issues,
    transform(example: ChatExample, index: number, ctx: TransformContext = {}): ChatMessage[] {
      throwIfIssues('emoji_think', index, issues(example));
      const messages = withSystem(example.messages, fillDate(template, ctx.date ?? defaultDate), true);
      for (const m of messages) if (m.role === 'assistant') m.content = stripThinkTags(m.content);
      const a = messages.length - 1;
      const u = lastIndexOfRole(messages, 'user');
      const plan = planEmojiExample(messages[u].content, messages[a].content, seed, index);
      if (plan.addThinkInstruction) messages[u].content += thinkInstruction(plan.think);
      if (plan.addStopInstruction) messages[u].content += stopInstruction(plan.stop);
      if (plan.addPrefix) messages[a].content = plan.think.emoji.repeat(plan.think.count) + '\n' + messages[a].content;
      if (plan.addSuffix) messages[a].content = messages[a].content + '\n' + plan.stop.emoji.repeat(plan.stop.count);
      return messages;
    },
    logitsProcessors(tokenizer: ChatTokenizer, prompt: readonly ChatMessage[] = []): ProfileProcessors {
      const u = lastIndexOfRole(prompt, 'user');
      const request = u >= 0 ? parseStopRequest(prompt[u].content) : null;
      const parts = [thinkTagPenalty(tokenizer), stopSignalProcessor(tokenizer, request)];
      return { processors: parts.map((p) => p.process), stats: () => parts.map((p) => p.stats()) };
    },
    compare(modelAnswer: string, golden: string): CompareResult {
      const got = core(modelAnswer);
      const want = core(golden);
      const match = got.text === want.text;
      // The golden answer carries the requested prefix and signal when it is the transformed one.
      const prefixOk = want.think ? got.think?.emoji === want.think.emoji && got.think.count === want.think.count : got.think !== null;
      const stopOk = want.stop
        ? got.stop !== null && bare(got.stop.emoji) === bare(want.stop.emoji) && got.stop.count === want.stop.count
        : got.stop !== null && got.stop.count >= STOP_MIN && got.stop.count <= STOP_MAX;
      return {
        match,
        score: match ? 1 : 0,
        details: {
          thinkEmoji: got.think?.emoji ?? null,
          thinkCount: got.think?.count ?? 0,
          stopEmoji: got.stop?.emoji ?? null,
          stopCount: got.stop?.count ?? 0,
          expectedThinkEmoji: want.think?.emoji ?? null,
          expectedThinkCount: want.think?.count ?? 0,
          expectedStopEmoji: want.stop?.emoji ?? null,
          expectedStopCount: want.stop?.count ?? 0,
          prefixFollowed: prefixOk,
          stopFollowed: stopOk,
          contractFollowed: prefixOk && stopOk,
        },
      };
    },
  };
}
