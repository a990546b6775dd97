/**
 * Test fixture for the daemon tests: an in-memory Hugging Face model folder with a tiny Qwen3 (2 layers, d32)
 * and a small-vocabulary byte-level tokenizer (256 bytes + Qwen3's special tokens), so training runs in
 * well under a second per step on the tfjs CPU backend. Not a test file itself.
 */
import { saveModel, type FolderReader, type FolderWriter } from '../../src/engine/checkpoint.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import { CHATML_TEMPLATE } from '../../src/engine/tokenizer.ts';
import type { ModelConfig } from '../../src/engine/types.ts';

/** GPT-2's bytes_to_unicode: byte b → the printable character byte-level BPE uses for it. */
function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

export const SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>'];
export const FIXTURE_VOCAB = 256 + SPECIAL.length;

export function tinyTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, i) => (vocab[c] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
}

export function tinyTokenizerConfig(): object {
  return { chat_template: CHATML_TEMPLATE, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', model_max_length: 4096, tokenizer_class: 'Qwen2Tokenizer' };
}

export const TINY_CONFIG: ModelConfig = {
  modelType: 'qwen3',
  vocabSize: FIXTURE_VOCAB,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 16,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 4096,
  torchDtype: 'float32',
  bosTokenId: 256,
  eosTokenId: 258,
};

export type MemFolder = FolderReader & FolderWriter & { files: Map<string, Uint8Array> };

export function memFolder(): MemFolder {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async read(name) {
      return files.get(name) ?? null;
    },
    async write(name, bytes) {
      files.set(name, bytes);
    },
  };
}

/** The tiny model folder: config, safetensors (random weights for `seed`), tokenizer files. */
export async function tinyModelFolder(seed = 1): Promise<MemFolder> {
  const folder = memFolder();
  const model = Qwen3Model.random(TINY_CONFIG, seed);
  const enc = new TextEncoder();
  await saveModel(model, folder, {
    tokenizerJson: enc.encode(JSON.stringify(tinyTokenizerJson())),
    tokenizerConfigJson: enc.encode(JSON.stringify(tinyTokenizerConfig())),
  });
  model.dispose();
  return folder;
}

/** `n` short chat examples as JSONL. */
export function chatJsonl(n: number, tag = 'q'): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: `${tag}${i % 7}?` }, { role: 'assistant', content: `a${(i * 3) % 5}` }] }));
  }
  return lines.join('\n') + '\n';
}
