/**
 * Qwen3's tokenizer and chat templates: @huggingface/tokenizers for ids, @huggingface/jinja for the
 * stock template of tokenizer_config.json or plain ChatML, and the completion-only training mask
 * (assistant content and its closing <|im_end|>, never the template's empty think block).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { ValidationError } from './errors.ts';
import type { ChatMessage, ChatRenderOptions, ChatTemplateKind, ChatTokenizer, EncodedChat } from './types.ts';

/** Plain ChatML: `<|im_start|>{role}\n{content}<|im_end|>\n` per message, no think blocks. */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// Unicode noncharacters marking where assistant content starts and ends inside a render.
const START = '\uFDD0';
const END = '\uFDD1';
const IM_END = '<|im_end|>';
const ASSISTANT_HEADER = '<|im_start|>assistant\n';

interface TokenizerJson {
  added_tokens: AddedTokenJson[];
  model: { vocab: Record<string, number> };
  [key: string]: unknown;
}
interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Builds a ChatTokenizer from a model folder's parsed tokenizer.json and tokenizer_config.json. */
export function loadTokenizer(tokenizerJson: object, tokenizerConfig: object): ChatTokenizer {
  const json = tokenizerJson as TokenizerJson;
  if (!json || typeof json !== 'object' || !Array.isArray(json.added_tokens) || !json.model || typeof json.model.vocab !== 'object') {
    throw new ValidationError('tokenizer.json is not a Hugging Face tokenizer (needs added_tokens and model.vocab)', 'tokenizer.json');
  }
  const config = tokenizerConfig as { chat_template?: unknown };
  const stock = typeof config.chat_template === 'string' ? config.chat_template : undefined;
  return new QwenChatTokenizer(json, tokenizerConfig, stock);
}

class QwenChatTokenizer implements ChatTokenizer {
  private tok: Tokenizer;
  private added: AddedTokenJson[];
  private vocab: number;
  private templates = new Map<ChatTemplateKind, Template>();
  /** UTF-8 byte length of each token id (-1 = not computed yet). */
  private byteLens: Int32Array;
  readonly eosTokenId: number;
  readonly padTokenId: number;

  constructor(
    private json: TokenizerJson,
    private config: object,
    private stockTemplate: string | undefined,
  ) {
    this.added = [...json.added_tokens];
    this.tok = new Tokenizer(json, config);
    this.vocab = computeVocabSize(json.model.vocab, this.added);
    this.byteLens = new Int32Array(this.vocab).fill(-1);
    this.eosTokenId = this.requireId('<|im_end|>');
    this.padTokenId = this.requireId('<|endoftext|>');
  }

  get vocabSize(): number {
    return this.vocab;
  }

  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  addTokens(tokens: readonly string[]): number[] {
    const fresh: AddedTokenJson[] = [];
    let next = this.vocab;
    const ids = tokens.map((content) => {
      if (typeof content !== 'string' || content.length === 0) throw new Error(`addTokens: token must be a non-empty string, got ${JSON.stringify(content)}`);
      const known = this.tok.token_to_id(content) ?? fresh.find((t) => t.content === content)?.id;
      if (known !== undefined) return known;
      const t: AddedTokenJson = { id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false };
      fresh.push(t);
      return t.id;
    });
    if (fresh.length > 0) {
      this.added = [...this.added, ...fresh];
      this.json = { ...this.json, added_tokens: this.added };
      this.tok = new Tokenizer(this.json, this.config);
      this.vocab = next;
      const lens = new Int32Array(this.vocab).fill(-1);
      lens.set(this.byteLens);
      this.byteLens = lens;
    }
    return ids;
  }

  toFiles(): { tokenizerJson: object; tokenizerConfig: object } {
    // transformers reads added tokens from both files; keep tokenizer_config's decoder map in step.
    const config = this.config as { added_tokens_decoder?: Record<string, object> };
    const decoder = { ...(config.added_tokens_decoder ?? {}) };
    for (const t of this.added) {
      decoder[String(t.id)] ??= { content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.single_word, special: t.special };
    }
    return { tokenizerJson: this.json, tokenizerConfig: { ...config, added_tokens_decoder: decoder } };
  }

  renderChat(messages: readonly ChatMessage[], opts: ChatRenderOptions): string {
    return this.template(opts.template).render(templateContext(messages, opts));
  }

  encodeChat(messages: readonly ChatMessage[], opts: ChatRenderOptions): EncodedChat {
    const nfc = messages.map((m) => ({ role: m.role, content: m.content.normalize('NFC') }));
    const { text, ranges } = this.renderMarked(nfc, opts);
    const ids = this.encode(text);
    const trainMask = new Uint8Array(ids.length);
    const byteRanges = ranges.map(([s, e]) => [utf8Length(text, 0, s), utf8Length(text, 0, e)]);
    let pos = 0;
    let r = 0;
    for (let i = 0; i < ids.length; i++) {
      const start = pos;
      pos += this.tokenBytes(ids[i]);
      while (r < byteRanges.length && byteRanges[r][1] <= start) r++;
      if (r < byteRanges.length && byteRanges[r][0] < pos) trainMask[i] = 1;
    }
    const total = utf8Length(text, 0, text.length);
    if (pos !== total) throw new Error(`encodeChat: token bytes (${pos}) do not add up to the text's UTF-8 length (${total})`);
    return { ids: Int32Array.from(ids), trainMask };
  }

  /**
   * Renders with a start marker after each assistant content's leading newlines (so the stock template
   * still strips them) and an end marker at its end, then removes them: the trained character ranges run
   * from the content's start (or, when the content has its own think block, from the assistant header's
   * end) through <|im_end|>. The template's own empty think block lies before the start marker.
   */
  private renderMarked(messages: ChatMessage[], opts: ChatRenderOptions): { text: string; ranges: [number, number][] } {
    const leads: number[] = [];
    const marked = messages.map((m, i) => {
      if (m.content.includes(START) || m.content.includes(END)) {
        throw new ValidationError(`messages[${i}].content contains the reserved character U+FDD0 or U+FDD1`, undefined, undefined, `messages[${i}].content`);
      }
      // Content with its own think block is trained whole, from the assistant header on.
      if (m.role !== 'assistant') return m;
      if (m.content.includes('</think>')) {
        leads.push(0);
        return { role: m.role, content: m.content + END };
      }
      const lead = m.content.length - m.content.replace(/^\n+/, '').length;
      leads.push(lead);
      return { role: m.role, content: m.content.slice(0, lead) + START + m.content.slice(lead) + END };
    });
    const raw = this.renderChat(marked, opts);
    let text = '';
    const ranges: [number, number][] = [];
    let start = -1;
    let last = 0;
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i];
      if (c !== START && c !== END) continue;
      text += raw.slice(last, i);
      last = i + 1;
      if (c === START) {
        // Leading newlines the template kept (right after the header) belong to the content.
        const lead = leads[ranges.length];
        const kept = text.length - lead;
        start = lead > 0 && text.startsWith(ASSISTANT_HEADER, kept - ASSISTANT_HEADER.length) && /^\n*$/.test(text.slice(kept)) ? kept : text.length;
      } else {
        if (start < 0) {
          const headerEnd = text.lastIndexOf(ASSISTANT_HEADER);
          if (headerEnd < 0) throw new Error('encodeChat: assistant content rendered outside an assistant turn');
          start = headerEnd + ASSISTANT_HEADER.length;
        }
        if (!raw.startsWith(IM_END, i + 1)) throw new Error(`encodeChat: the ${opts.template} template does not close assistant content with ${IM_END}`);
        ranges.push([start, text.length + IM_END.length]);
        start = -1;
      }
    }
    text += raw.slice(last);
    return { text, ranges };
  }

  private template(kind: ChatTemplateKind): Template {
    let t = this.templates.get(kind);
    if (!t) {
      if (kind === 'stock' && !this.stockTemplate) throw new ValidationError('tokenizer_config.json has no chat_template', 'tokenizer_config.json', undefined, 'chat_template');
      if (kind !== 'stock' && kind !== 'chatml') throw new Error(`unknown chat template "${String(kind)}"; expected stock or chatml`);
      t = new Template(kind === 'stock' ? (this.stockTemplate as string) : CHATML_TEMPLATE);
      this.templates.set(kind, t);
    }
    return t;
  }

  private tokenBytes(id: number): number {
    let n = this.byteLens[id];
    if (n < 0) {
      const added = this.added.find((t) => t.id === id);
      if (added) n = utf8Length(added.content, 0, added.content.length);
      else {
        const s = this.tok.id_to_token(id);
        if (s === undefined) throw new Error(`token id ${id} has no vocabulary entry`);
        n = s.length; // byte-level BPE: one character per byte
      }
      this.byteLens[id] = n;
    }
    return n;
  }

  private requireId(token: string): number {
    const id = this.tok.token_to_id(token);
    if (id === undefined) throw new ValidationError(`tokenizer.json has no ${token} token`, 'tokenizer.json', undefined, 'added_tokens');
    return id;
  }
}

function templateContext(messages: readonly ChatMessage[], opts: ChatRenderOptions): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: opts.addGenerationPrompt ?? false,
  };
  if (opts.enableThinking !== undefined) ctx.enable_thinking = opts.enableThinking;
  return ctx;
}

function computeVocabSize(vocab: Record<string, number>, added: readonly AddedTokenJson[]): number {
  let max = -1;
  for (const k in vocab) if (vocab[k] > max) max = vocab[k];
  for (const t of added) if (t.id > max) max = t.id;
  return max + 1;
}

/** UTF-8 byte length of s[from, to) (surrogate pairs count 4). */
export function utf8Length(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
