/**
 * What a profile does to one example, for the workbench preview pane: the raw row, the transformed
 * messages, the chat-template text, and the tokens marked trained or masked, with counts.
 */
import type { ChatExample, ChatMessage, ChatTokenizer } from '../engine/types.ts';
import type { Profile, TransformContext } from './types.ts';

export interface PreviewToken {
  id: number;
  text: string;
  trained: boolean;
}

export interface ExamplePreview {
  raw: ChatExample;
  messages: ChatMessage[];
  templateText: string;
  tokens: PreviewToken[];
  counts: { total: number; trained: number; masked: number };
}

/** Runs the profile's transform, its chat template and the completion-only mask on one example. */
export function previewExample(profile: Profile, example: ChatExample, index: number, tokenizer: ChatTokenizer, ctx?: TransformContext): ExamplePreview {
  const messages = profile.transform(example, index, ctx);
  const opts = { template: profile.chatTemplate };
  const templateText = tokenizer.renderChat(messages, opts);
  const { ids, trainMask } = tokenizer.encodeChat(messages, opts);
  const tokens = Array.from(ids, (id, i) => ({ id, text: tokenizer.decode([id]), trained: trainMask[i] === 1 }));
  const trained = tokens.filter((t) => t.trained).length;
  return { raw: example, messages, templateText, tokens, counts: { total: tokens.length, trained, masked: tokens.length - trained } };
}
