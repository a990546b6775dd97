/**
 * A Qwen3 model as the GGUF file llama.cpp loads (its `qwen3` architecture): metadata keys, tensor names and types,
 * and the tokenizer, as llama.cpp's convert_hf_to_gguf.py writes them (Qwen3Model → Qwen2Model → _set_vocab_gpt2,
 * gguf-py's SpecialVocab); plus the Ollama Modelfile that goes beside it. Pure: tensors come in as a stream in
 * Hugging Face layout ([out, in] row-major, which is ggml's ne = [in, out]) and leave as pieces of the file.
 */
import { CheckpointError } from '../errors.ts';
import type { HfTensor } from '../model.ts';
import type { ModelConfig } from '../types.ts';
import { GgmlType, bool, f32, ggufPieces, str, u32, type GgufTensorPlan, type GgufValue } from './writer.ts';
import { QK8_0 } from './q8_0.ts';

/** What the weights become: all float32, 2-D weights float16, or 2-D weights Q8_0 (1-D tensors stay float32). */
export type GgufFileType = 'f32' | 'f16' | 'q8_0';
export const GGUF_FILE_TYPES: readonly GgufFileType[] = ['f32', 'f16', 'q8_0'];
/** llama.cpp's enum llama_ftype for general.file_type. */
const FILE_TYPE_ID: Record<GgufFileType, number> = { f32: 0, f16: 1, q8_0: 7 };

/** llama.cpp's token types (llama_token_type / gguf TokenType). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** The pre-tokenizer regex of Qwen2/Qwen3 tokenizers, which llama.cpp knows as `qwen2`. */
const QWEN2_PRE_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Hugging Face weight name → GGUF tensor name (llama.cpp's tensor_mapping for qwen3). */
export function ggufTensorName(hf: string): string {
  const fixed: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };
  if (fixed[hf]) return fixed[hf];
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(hf);
  const layer: Record<string, string> = {
    input_layernorm: 'attn_norm', 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output', 'self_attn.q_norm': 'attn_q_norm', 'self_attn.k_norm': 'attn_k_norm',
    post_attention_layernorm: 'ffn_norm', 'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  };
  if (m && layer[m[2]]) return `blk.${m[1]}.${layer[m[2]]}.weight`;
  throw new CheckpointError(`weight "${hf}" has no place in a qwen3 GGUF file`, undefined, hf);
}

/** The GGML type a tensor gets: 1-D stays F32 (as the converter keeps norms); Q8_0 falls back to F16 for rows that are not whole blocks. */
export function tensorType(ne: readonly number[], type: GgufFileType): GgmlType {
  if (type === 'f32' || ne.length < 2) return GgmlType.F32;
  if (type === 'f16') return GgmlType.F16;
  return ne[0] % QK8_0 === 0 ? GgmlType.Q8_0 : GgmlType.F16;
}

interface AddedToken { id: number; content: string; special?: boolean }
interface TokenizerFile {
  added_tokens?: AddedToken[];
  pre_tokenizer?: unknown;
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
}

/** convert_hf_to_gguf's does_token_look_special: added tokens that act as control tokens though not marked special. */
function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'));
}

/** The first Split regex of a tokenizer.json's pre_tokenizer (Sequence or single), if any. */
function splitRegex(pre: unknown): string | undefined {
  const p = pre as { type?: string; pretokenizers?: unknown[]; pattern?: { Regex?: string } } | undefined;
  if (p?.type === 'Split') return p.pattern?.Regex;
  if (p?.type === 'Sequence') for (const q of p.pretokenizers ?? []) { const r = splitRegex(q); if (r) return r; }
  return undefined;
}

/** llama.cpp's name for the pre-tokenizer: `qwen2` (Qwen's Split regex), `gpt2` (a lone ByteLevel with GPT-2's regex), else none. */
function preTokenizer(pre: unknown): 'qwen2' | 'gpt2' | undefined {
  if (splitRegex(pre) === QWEN2_PRE_REGEX) return 'qwen2';
  const p = pre as { type?: string; use_regex?: boolean } | undefined;
  return p?.type === 'ByteLevel' && p.use_regex === true ? 'gpt2' : undefined;
}

/** The tokenizer.ggml.* keys (and the chat template) of a Qwen byte-level BPE tokenizer padded to `vocabSize`. */
export function tokenizerKeys(tokenizerJson: object, tokenizerConfig: object, config: ModelConfig): Map<string, GgufValue> {
  const tok = tokenizerJson as TokenizerFile;
  const cfg = tokenizerConfig as Record<string, unknown>;
  const F = 'tokenizer.json';
  if (tok.model?.type !== 'BPE' || typeof tok.model.vocab !== 'object' || !Array.isArray(tok.model.merges)) {
    throw new CheckpointError(`${F}: model must be a BPE tokenizer with vocab and merges (model.type is ${JSON.stringify(tok.model?.type)})`, F);
  }
  const pre = preTokenizer(tok.pre_tokenizer);
  if (!pre) {
    throw new CheckpointError(`${F}: pre_tokenizer is neither the Qwen2/Qwen3 one llama.cpp knows as "qwen2" nor GPT-2's (its Split regex is ${JSON.stringify(splitRegex(tok.pre_tokenizer))}); llama.cpp would split text differently`, F);
  }
  const n = config.vocabSize;
  const tokens: (string | undefined)[] = new Array(n);
  const types = new Int32Array(n).fill(TokenType.UNUSED);
  for (const [t, id] of Object.entries(tok.model.vocab)) {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new CheckpointError(`${F}: token ${JSON.stringify(t)} has id ${id}, outside the model's vocabulary of ${n}`, F);
    tokens[id] = t;
    types[id] = TokenType.NORMAL;
  }
  for (const a of tok.added_tokens ?? []) {
    if (!Number.isInteger(a.id) || a.id < 0 || a.id >= n) throw new CheckpointError(`${F}: added token ${JSON.stringify(a.content)} has id ${a.id}, outside the model's vocabulary of ${n}`, F);
    tokens[a.id] = a.content;
    types[a.id] = a.special || looksSpecial(a.content) ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  const list = Array.from(tokens, (t, i) => t ?? `[PAD${i}]`);
  const merges = tok.model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));

  const keys = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str(pre)],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: list }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ['tokenizer.ggml.merges', { type: 'string[]', value: merges }],
  ]);
  // gguf-py's SpecialVocab: tokenizer_config.json's `<kind>_token` first, then config.json's `<kind>_token_id`.
  const idOf = (content: string) => (tok.added_tokens ?? []).find((a) => a.content === content)?.id ?? tok.model!.vocab![content];
  const named = (kind: string) => {
    const v = cfg[`${kind}_token`];
    const content = typeof v === 'string' ? v : (v as { content?: string } | null)?.content;
    return content === undefined ? undefined : idOf(content);
  };
  const eosFromConfig = Array.isArray(config.eosTokenId) ? config.eosTokenId[0] : config.eosTokenId;
  const ids: [string, number | undefined][] = [
    ['eos', named('eos') ?? eosFromConfig],
    ['padding', named('pad')],
    ['bos', named('bos') ?? config.bosTokenId],
  ];
  for (const [kind, id] of ids) if (id !== undefined) keys.set(`tokenizer.ggml.${kind}_token_id`, u32(id));
  keys.set('tokenizer.ggml.add_bos_token', bool(cfg.add_bos_token === true));
  if (typeof cfg.chat_template === 'string') keys.set('tokenizer.chat_template', str(cfg.chat_template));
  return keys;
}

/** general.* and qwen3.* keys (llama.cpp's LLM_KV names for the qwen3 architecture). */
export function modelKeys(config: ModelConfig, type: GgufFileType, name: string): Map<string, GgufValue> {
  const A = 'qwen3';
  return new Map<string, GgufValue>([
    ['general.architecture', str(A)],
    ['general.type', str('model')],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE_ID[type])],
    ['general.quantization_version', u32(2)],
    ['general.alignment', u32(32)],
    [`${A}.context_length`, u32(config.maxPositionEmbeddings)],
    [`${A}.embedding_length`, u32(config.hiddenSize)],
    [`${A}.block_count`, u32(config.numHiddenLayers)],
    [`${A}.feed_forward_length`, u32(config.intermediateSize)],
    [`${A}.attention.head_count`, u32(config.numAttentionHeads)],
    [`${A}.attention.head_count_kv`, u32(config.numKeyValueHeads)],
    [`${A}.attention.key_length`, u32(config.headDim)],
    [`${A}.attention.value_length`, u32(config.headDim)],
    [`${A}.rope.freq_base`, f32(config.ropeTheta)],
    [`${A}.attention.layer_norm_rms_epsilon`, f32(config.rmsNormEps)],
  ]);
}

export interface Qwen3GgufInput {
  config: ModelConfig;
  /** tokenizer.json and tokenizer_config.json, parsed. */
  tokenizerJson: object;
  tokenizerConfig: object;
  /** Every weight with its Hugging Face name and shape, in the order `weights` yields them. */
  order: readonly (readonly [string, readonly number[]])[];
  /** The weights, float32 in Hugging Face layout, one at a time. */
  weights: AsyncIterable<[string, HfTensor]>;
  type: GgufFileType;
  /** general.name. */
  name: string;
}

/** The GGUF file of a Qwen3 model as pieces (see ggufPieces), with its tensor plan. */
export function qwen3Gguf(input: Qwen3GgufInput): { pieces: AsyncGenerator<Uint8Array>; tensors: GgufTensorPlan[] } {
  const { config } = input;
  if (config.modelType !== 'qwen3') throw new CheckpointError(`GGUF export knows the qwen3 architecture, not ${config.modelType}`, 'config.json');
  const planned = new Map(input.order.map(([n, s]) => [n, s]));
  const tensors: GgufTensorPlan[] = [];
  for (const [hf, shape] of input.order) {
    if (hf === 'lm_head.weight' && config.tieWordEmbeddings) continue; // tied: llama.cpp reuses token_embd
    const ne = [...shape].reverse();
    tensors.push({ name: ggufTensorName(hf), ne, type: tensorType(ne, input.type) });
  }
  if (!config.tieWordEmbeddings && !planned.has('lm_head.weight')) throw new CheckpointError('the model has untied embeddings but no lm_head.weight', undefined, 'lm_head.weight');
  const kvs = new Map([...modelKeys(config, input.type, input.name), ...tokenizerKeys(input.tokenizerJson, input.tokenizerConfig, config)]);
  async function* data(): AsyncGenerator<[string, Float32Array]> {
    for await (const [hf, t] of input.weights) {
      if (hf === 'lm_head.weight' && config.tieWordEmbeddings) continue;
      const want = planned.get(hf);
      if (!want || want.join() !== t.shape.join()) throw new CheckpointError(`weight "${hf}" has shape [${t.shape}], the plan says [${want ?? 'not planned'}]`, undefined, hf);
      yield [ggufTensorName(hf), t.data];
    }
  }
  return { pieces: ggufPieces(kvs, tensors, data()), tensors };
}

/** Stop strings of an Ollama Modelfile for Qwen3 chat. */
export const QWEN3_STOPS = ['<|im_start|>', '<|im_end|>', '<|endoftext|>'];

/**
 * An Ollama Modelfile for `ggufFile` (a path relative to the Modelfile): Qwen3's chat format as the workbench
 * renders it (system, user and assistant turns in ChatML; the generation prompt opens an assistant turn with the
 * empty think block of thinking off), as a Go template, and the turn ends as stop strings.
 */
export function ollamaModelfile(ggufFile: string): string {
  const template = [
    '{{- if .System }}<|im_start|>system',
    '{{ .System }}<|im_end|>',
    '{{ end }}',
    '{{- range $i, $_ := .Messages }}',
    '{{- $last := eq (len (slice $.Messages $i)) 1 -}}',
    '{{- if eq .Role "user" }}<|im_start|>user',
    '{{ .Content }}<|im_end|>',
    '{{ else if eq .Role "assistant" }}<|im_start|>assistant',
    '{{ .Content }}{{ if not $last }}<|im_end|>',
    '{{ end }}',
    '{{- end }}',
    '{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant',
    '<think>',
    '',
    '</think>',
    '',
    '{{ end }}',
    '{{- end }}',
  ].join('\n');
  return [
    '# Ollama: ollama create my-model -f Modelfile && ollama run my-model',
    `FROM ./${ggufFile}`,
    `TEMPLATE """${template}"""`,
    ...QWEN3_STOPS.map((s) => `PARAMETER stop "${s}"`),
    '',
  ].join('\n');
}
