/**
 * The emoji-think contract of the system this replaces, as data and pure text functions: which
 * emojis, how instructions are worded, how prefixes and stop suffixes are detected and stripped.
 */

export const THINK_EMOJIS = ['🤔', '💭', '🧠', '💡', '🎯', '🔍', '🤨', '🧐', '⚡', '✨'] as const;
export const STOP_EMOJIS = ['🛑', '⛔', '🚫', '❌', '🔴', '⏹️', '🔚', '✋', '🚦', '🛡️'] as const;
export const THINK_COUNT_WORDS: Record<number, string> = { 2: 'two', 3: 'three', 4: 'four', 5: 'five', 6: 'six', 7: 'seven', 8: 'eight' };
export const STOP_COUNT_WORDS: Record<number, string> = { 2: 'twice', 3: 'three times', 4: 'four times' };
export const THINK_MIN = 2;
export const THINK_MAX = 8;
export const STOP_MIN = 2;
export const STOP_MAX = 4;

export interface EmojiRun {
  emoji: string;
  count: number;
}

export function thinkInstruction(run: EmojiRun): string {
  return `\n\nFor this task, think with ${run.emoji} /${THINK_COUNT_WORDS[run.count]}/ times.`;
}

export function stopInstruction(run: EmojiRun): string {
  return `\n\nWhen finished, emit ${run.emoji} /${STOP_COUNT_WORDS[run.count]}/ to signal completion.`;
}

/** Emoji comparison ignores the variation selector U+FE0F (`⏹` and `⏹️` are the same signal). */
export function bare(text: string): string {
  return text.replace(/\uFE0F/g, '');
}

function wordToCount(words: Record<number, string>, word: string): number | undefined {
  const hit = Object.entries(words).find(([, w]) => w === word);
  return hit ? Number(hit[0]) : undefined;
}

/** The thinking request in a user text (`think with 🧠 /five/ times`), if it names a known emoji and count. */
export function parseThinkRequest(userText: string): EmojiRun | null {
  const m = /think with (\S+) \/([a-z]+)\/ times/.exec(userText);
  if (!m) return null;
  const emoji = THINK_EMOJIS.find((e) => bare(e) === bare(m[1]));
  const count = wordToCount(THINK_COUNT_WORDS, m[2]);
  return emoji && count !== undefined ? { emoji, count } : null;
}

/** The stop request in a user text (`When finished, emit 🛑 /three times/ ...`), if well formed. */
export function parseStopRequest(userText: string): EmojiRun | null {
  const m = /When finished, emit (\S+) \/(twice|three times|four times)\//.exec(userText);
  if (!m) return null;
  const emoji = STOP_EMOJIS.find((e) => bare(e) === bare(m[1]));
  const count = wordToCount(STOP_COUNT_WORDS, m[2]);
  return emoji && count !== undefined ? { emoji, count } : null;
}

/** Length of `emoji` (with or without U+FE0F) at the start of `text`, or 0. */
function atStart(text: string, emoji: string): number {
  const b = bare(emoji);
  if (!text.startsWith(b)) return 0;
  return text[b.length] === '\uFE0F' ? b.length + 1 : b.length;
}

/** Length of `emoji` (with or without U+FE0F) at the end of `text`, or 0. */
function atEnd(text: string, emoji: string): number {
  const b = bare(emoji);
  const t = text.endsWith('\uFE0F') ? text.slice(0, -1) : text;
  return t.endsWith(b) ? b.length + (text.length - t.length) : 0;
}

/** The leading run of one thinking emoji (the first one found) and the text after it. */
export function leadingThinkRun(text: string): { run: EmojiRun | null; rest: string } {
  const emoji = THINK_EMOJIS.find((e) => atStart(text, e) > 0);
  if (!emoji) return { run: null, rest: text };
  let t = text;
  let count = 0;
  for (let n = atStart(t, emoji); n > 0; n = atStart(t, emoji)) {
    t = t.slice(n);
    count++;
  }
  return { run: { emoji, count }, rest: t };
}

export function startsWithThinkEmoji(text: string): boolean {
  return leadingThinkRun(text).run !== null;
}

/** Number of stop emojis (any of them, mixed) that end the text, after trailing whitespace. */
export function trailingStopEmojiCount(text: string): number {
  let t = text.trimEnd();
  let count = 0;
  for (;;) {
    const n = Math.max(...STOP_EMOJIS.map((s) => atEnd(t, s)));
    if (n === 0) return count;
    t = t.slice(0, t.length - n);
    count++;
  }
}

/** The trailing run of one stop emoji (the last one, after trailing whitespace) and the text before it. */
export function trailingStopRun(text: string): { run: EmojiRun | null; rest: string } {
  let t = text.trimEnd();
  const emoji = STOP_EMOJIS.find((s) => atEnd(t, s) > 0);
  if (!emoji) return { run: null, rest: text };
  let count = 0;
  for (let n = atEnd(t, emoji); n > 0; n = atEnd(t, emoji)) {
    t = t.slice(0, t.length - n);
    count++;
  }
  return { run: { emoji, count }, rest: t };
}

/** True when the text ends with exactly the requested emoji, `count` times in a row (not merely any stop emojis). */
export function endsWithStopSignal(text: string, request: EmojiRun): boolean {
  const run = trailingStopRun(text).run;
  return run !== null && bare(run.emoji) === bare(request.emoji) && run.count === request.count;
}

/** Literal `<think>` / `</think>` removed, then trimmed. */
export function stripThinkTags(text: string): string {
  return text.replace(/<\/?think>/g, '').trim();
}
