/**
 * What a profile does to one example, for the workbench preview pane: the raw row, the transformed
 * messages, the chat-template text, and the tokens marked trained or masked, with counts.
 */
import type { ChatExample, ChatMessage, ChatTokenizer } from '../engine/types.ts';
import type { Profile, TransformContext } from './types.ts';

export interface PreviewToken {
  id: number;
  /**
   * What the token stands for. A character split over several byte-level tokens (an emoji, a CJK character) is
   * decoded as a whole: its text is on the first of them and the others are '' with `partOfPrevious` set.
   */
  text: string;
  trained: boolean;
  partOfPrevious?: boolean;
}

/** Longest run of tokens joined to decode one split character. */
const MAX_JOIN = 8;

/** Per-token texts where a run of tokens that only decodes together (a split UTF-8 character) is decoded as one. */
export function tokenTexts(ids: ArrayLike<number>, tokenizer: ChatTokenizer): { text: string; partOfPrevious: boolean }[] {
  const out: { text: string; partOfPrevious: boolean }[] = [];
  for (let i = 0; i < ids.length; ) {
    const one = tokenizer.decode([ids[i]]);
    let n = 1;
    let text = one;
    if (one.includes('\uFFFD')) {
      for (let k = 2; k <= MAX_JOIN && i + k <= ids.length; k++) {
        const joined = tokenizer.decode(Array.from({ length: k }, (_, j) => ids[i + j]));
        if (!joined.endsWith('\uFFFD') && !joined.startsWith('\uFFFD')) {
          n = k;
          text = joined;
          break;
        }
      }
    }
    out.push({ text, partOfPrevious: false });
    for (let j = 1; j < n; j++) out.push({ text: '', partOfPrevious: true });
    i += n;
  }
  return out;
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
  const texts = tokenTexts(ids, tokenizer);
  const tokens: PreviewToken[] = Array.from(ids, (id, i) => ({ id, text: texts[i].text, trained: trainMask[i] === 1, ...(texts[i].partOfPrevious ? { partOfPrevious: true } : {}) }));
  const trained = tokens.filter((t) => t.trained).length;
  return { raw: example, messages, templateText, tokens, counts: { total: tokens.length, trained, masked: tokens.length - trained } };
}
