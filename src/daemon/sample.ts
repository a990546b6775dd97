/**
 * Sample answers between training steps (issue 4): greedy generation for held-out prompts (several at once as one
 * batch, generate-batch.ts) with the profile's logits processors and a time limit, compared with the golden answer by the profile (emoji_think's contract and
 * regime3's outcome recorded on the row). Never throws: a failure is
 * recorded as the sample's stop reason so training goes on; generate() frees its tensors itself.
 */
import { generate } from '../engine/generate.ts';
import { greedyBatch } from '../engine/generate-batch.ts';
import type { ChatMessage, GenerateResult } from '../engine/types.ts';
import { answerOutcome } from '../profiles/outcome.ts';
import type { SampleRow } from '../store/db.ts';
import type { Session } from './session.ts';

export async function sampleAnswer(
  s: Session,
  chat: { prompt: ChatMessage[]; golden: string },
  at: { step: number; itemId: number },
): Promise<SampleRow> {
  return (await sampleAnswers(s, [chat], at))[0];
}

/**
 * sampleAnswer for several prompts answered as one batch (the evolution snapshots); each row's `ms` is its share of
 * the batch's time, and the time limit is sampleTimeLimitMs per prompt.
 */
export async function sampleAnswers(
  s: Session,
  chats: readonly { prompt: ChatMessage[]; golden: string }[],
  at: { step: number; itemId: number },
): Promise<SampleRow[]> {
  const base = (chat: { prompt: ChatMessage[]; golden: string }) => ({
    modelId: s.modelRow.id, step: at.step, time: Date.now(), itemId: at.itemId, golden: chat.golden,
    prompt: [...chat.prompt].reverse().find((m) => m.role === 'user')?.content ?? '',
  });
  const t0 = Date.now();
  try {
    const rows = chats.map((chat) => ({
      ids: s.tokenizer.encode(s.tokenizer.renderChat(chat.prompt, { template: s.profile.chatTemplate, addGenerationPrompt: true, enableThinking: false })),
      maxNewTokens: Math.min(256, s.tokenizer.encode(chat.golden).length * 2 + 16),
      processors: s.profile.logitsProcessors(s.tokenizer, chat.prompt).processors,
    }));
    const answers = await greedyBatch(s.model, rows, {
      timeLimitMs: s.config.sampleTimeLimitMs * chats.length,
      eosTokenIds: [s.tokenizer.eosTokenId],
      decode: (out) => s.tokenizer.decode(out, { skipSpecialTokens: true }),
      forward: s.lora ? { linearHook: s.lora.hook() } : undefined,
    });
    return answers.map((r, i) => {
      const cmp = s.profile.compare(r.text, chats[i].golden);
      const outcome = answerOutcome(s.profile.name, cmp.details);
      return { ...base(chats[i]), answer: r.text, match: cmp.match, stopReason: r.stopReason, ms: Math.round(r.ms / chats.length), ...(outcome ? { outcome } : {}) };
    });
  } catch (e) {
    const ms = Math.round((Date.now() - t0) / Math.max(1, chats.length));
    return chats.map((chat) => ({ ...base(chat), answer: '', match: false, stopReason: `error: ${e instanceof Error ? e.message : String(e)}`, ms }));
  }
}

export interface ChatRequest {
  messages: ChatMessage[];
  maxNewTokens?: number;
  temperature?: number;
  onToken?(textSoFar: string): void;
  signal?: AbortSignal;
}

/** "Try it": an answer from the session's current weights with the profile's processors, streamed token by token. */
export async function chatAnswer(s: Session, req: ChatRequest): Promise<GenerateResult> {
  const text = s.tokenizer.renderChat(req.messages, { template: s.profile.chatTemplate, addGenerationPrompt: true, enableThinking: false });
  const procs = s.profile.logitsProcessors(s.tokenizer, req.messages);
  return generate(s.model, s.tokenizer.encode(text), {
    maxNewTokens: req.maxNewTokens ?? 256,
    temperature: req.temperature ?? 0,
    processors: procs.processors,
    // Answered between steps without a heartbeat: it must end well before the watchdog's limit.
    timeLimitMs: Math.min(Math.max(s.config.sampleTimeLimitMs, 60_000), s.config.stallTimeoutMs / 2),
    eosTokenIds: [s.tokenizer.eosTokenId],
    decode: (out) => s.tokenizer.decode(out, { skipSpecialTokens: true }),
    forward: s.lora ? { linearHook: s.lora.hook() } : undefined,
    signal: req.signal,
    onToken: req.onToken ? (_id, soFar) => req.onToken!(soFar) : undefined,
  });
}
