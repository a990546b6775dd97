// GGUF export of the bundled tiny model (real Qwen3 tokenizer, 151936 vocabulary) read back by @huggingface/gguf:
// the keys, tensor names and types llama.cpp's qwen3 loader expects, the tokenizer (types, padding, merges,
// special ids, chat template), tensor data at the offsets the header states (F32 exact, F16 and Q8_0 within their
// rounding), and the stream's refusals. llama.cpp itself loads these files in `npm run test:gguf`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { readTensorStream } from '../../src/engine/checkpoint.ts';
import { ggufFromFolder } from '../../src/engine/gguf/from-folder.ts';
import { ollamaModelfile, type GgufFileType } from '../../src/engine/gguf/qwen3-gguf.ts';
import { GgmlType, ggufPieces, u32 } from '../../src/engine/gguf/writer.ts';
import { QK8_0, dequantizeQ8_0, f16BitsToF32, f32ToF16Bits, quantizeQ8_0 } from '../../src/engine/gguf/q8_0.ts';
import type { HfTensor } from '../../src/engine/model.ts';

const model = join(import.meta.dirname, '../../public/models/qwen3-tiny');
let dir: string;
const files: Partial<Record<GgufFileType, string>> = {};
const weights = new Map<string, HfTensor>();

async function exportAs(type: GgufFileType): Promise<string> {
  const out = join(dir, `tiny-${type}.gguf`);
  const { pieces } = await ggufFromFolder(nodeFolder(model), type, 'qwen3-tiny');
  await nodeFolder(dir).writeStream!(`tiny-${type}.gguf`, pieces);
  return out;
}

function readAt(file: string, offset: number, bytes: number): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const buf = new Uint8Array(bytes);
    readSync(fd, buf, 0, bytes, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

const parsedCache = new Map<string, ReturnType<typeof gguf>>();
/** The file's header as @huggingface/gguf parses it (once per file). */
const parse = (file: string) => parsedCache.get(file) ?? (parsedCache.set(file, gguf(file, { allowLocalFile: true })), parsedCache.get(file)!);

/** A tensor's bytes in the file, located by the header's offsets as a GGUF reader locates them. */
async function tensorBytes(file: string, name: string) {
  const parsed = await parse(file);
  const info = parsed.tensorInfos.find((t) => t.name === name)!;
  const ne = info.shape.map(Number);
  const n = ne.reduce((a, b) => a * b, 1);
  const size = info.dtype === GgmlType.F32 ? 4 * n : info.dtype === GgmlType.F16 ? 2 * n : (n / QK8_0) * 34;
  return { info, ne, bytes: readAt(file, Number(parsed.tensorDataOffset + info.offset), size) };
}

describe('GGUF export (qwen3)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gguf-'));
    for await (const [name, t] of readTensorStream(nodeFolder(model))) weights.set(name, t);
    for (const type of ['f32', 'f16', 'q8_0'] as const) files[type] = await exportAs(type);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('header: qwen3 keys, llama.cpp tensor names, 1-D tensors F32 and 2-D ones of the asked type', async () => {
    const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    for (const [type, want] of [['f32', GgmlType.F32], ['f16', GgmlType.F16], ['q8_0', GgmlType.Q8_0]] as const) {
      const { metadata, tensorInfos } = await parse(files[type]!);
      expect(metadata.version).toBe(3);
      expect(metadata).toMatchObject({
        'general.architecture': 'qwen3',
        'general.file_type': { f32: 0, f16: 1, q8_0: 7 }[type],
        'general.quantization_version': 2,
        'qwen3.context_length': cfg.max_position_embeddings,
        'qwen3.embedding_length': cfg.hidden_size,
        'qwen3.block_count': cfg.num_hidden_layers,
        'qwen3.feed_forward_length': cfg.intermediate_size,
        'qwen3.attention.head_count': cfg.num_attention_heads,
        'qwen3.attention.head_count_kv': cfg.num_key_value_heads,
        'qwen3.attention.key_length': cfg.head_dim,
        'qwen3.attention.value_length': cfg.head_dim,
        'qwen3.rope.freq_base': cfg.rope_theta,
      });
      expect((metadata as unknown as Record<string, number>)['qwen3.attention.layer_norm_rms_epsilon']).toBeCloseTo(cfg.rms_norm_eps, 12);
      const perLayer = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'attn_q_norm', 'attn_k_norm', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];
      const names = ['token_embd.weight', 'output_norm.weight', ...[0, 1].flatMap((i) => perLayer.map((p) => `blk.${i}.${p}.weight`))];
      expect(tensorInfos.map((t) => t.name).sort()).toEqual(names.sort()); // tied embeddings: no output.weight
      for (const t of tensorInfos) expect([t.name, t.dtype]).toEqual([t.name, t.shape.length === 1 ? GgmlType.F32 : want]);
      const q = tensorInfos.find((t) => t.name === 'blk.0.attn_q.weight')!;
      expect(q.shape.map(Number)).toEqual([cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim]); // ne[0] = in
      expect(tensorInfos.find((t) => t.name === 'token_embd.weight')!.shape.map(Number)).toEqual([cfg.hidden_size, cfg.vocab_size]);
      for (const t of tensorInfos) expect(Number(t.offset) % 32).toBe(0);
    }
  });

  it('tokenizer: gpt2/qwen2, token types, padding to the vocabulary, merges, special ids, chat template', async () => {
    const { metadata } = await parse(files.q8_0!);
    const tok = JSON.parse(readFileSync(join(model, 'tokenizer.json'), 'utf8'));
    const tcfg = JSON.parse(readFileSync(join(model, 'tokenizer_config.json'), 'utf8'));
    const m = metadata as unknown as Record<string, unknown>;
    expect(m['tokenizer.ggml.model']).toBe('gpt2');
    expect(m['tokenizer.ggml.pre']).toBe('qwen2');
    const tokens = m['tokenizer.ggml.tokens'] as string[];
    const types = m['tokenizer.ggml.token_type'] as number[];
    expect(tokens).toHaveLength(151936);
    expect(types).toHaveLength(151936);
    expect([tokens[0], tokens[9707], tokens[151643], tokens[151645], tokens[151657], tokens[151667]]).toEqual(['!', 'Hello', '<|endoftext|>', '<|im_end|>', '<tool_call>', '<think>']);
    expect(tokens[220]).toBe('Ġ'); // byte-level BPE strings as in tokenizer.json
    expect([types[0], types[151643], types[151645], types[151659]]).toEqual([1, 3, 3, 3]); // normal; special; <|fim_prefix|> looks special
    expect([types[151657], types[151667]]).toEqual([4, 4]); // <tool_call>, <think>: user-defined
    expect([tokens[151669], types[151669], tokens[151935], types[151935]]).toEqual(['[PAD151669]', 5, '[PAD151935]', 5]);
    expect(types.filter((t) => t === 1)).toHaveLength(Object.keys(tok.model.vocab).length);
    const merges = m['tokenizer.ggml.merges'] as string[];
    expect(merges).toHaveLength(tok.model.merges.length);
    expect(merges[0]).toBe(tok.model.merges[0].join(' '));
    expect(m).toMatchObject({
      'tokenizer.ggml.eos_token_id': 151645,
      'tokenizer.ggml.padding_token_id': 151643,
      'tokenizer.ggml.bos_token_id': 151643,
      'tokenizer.ggml.add_bos_token': false,
      'tokenizer.chat_template': tcfg.chat_template,
    });
  });

  it('tensor data at the stated offsets: F32 exact, F16 rounded to nearest, Q8_0 within half a step per block (plus the f16 scale rounding)', async () => {
    const embd = weights.get('model.embed_tokens.weight')!;
    const f = await tensorBytes(files.f32!, 'token_embd.weight');
    expect(Buffer.from(f.bytes).equals(Buffer.from(embd.data.buffer, embd.data.byteOffset, embd.data.byteLength))).toBe(true);
    const q = weights.get('model.layers.1.self_attn.q_proj.weight')!;
    const h = await tensorBytes(files.f16!, 'blk.1.attn_q.weight');
    const hv = new DataView(h.bytes.buffer);
    let worst = 0;
    for (let i = 0; i < q.data.length; i++) worst = Math.max(worst, Math.abs(f16BitsToF32(hv.getUint16(2 * i, true)) - q.data[i]) / (Math.abs(q.data[i]) * 2 ** -11 + 2 ** -25));
    expect(worst).toBeLessThanOrEqual(1); // within half an f16 ulp (relative 2^-11, or 2^-25 among subnormals)
    const norm = await tensorBytes(files.f16!, 'blk.1.attn_norm.weight');
    expect([...new Float32Array(norm.bytes.slice().buffer)]).toEqual([...weights.get('model.layers.1.input_layernorm.weight')!.data]);
    for (const [hf, gg] of [['model.layers.0.mlp.down_proj.weight', 'blk.0.ffn_down.weight'], ['model.embed_tokens.weight', 'token_embd.weight']]) {
      const w = weights.get(hf)!.data;
      const back = dequantizeQ8_0((await tensorBytes(files.q8_0!, gg)).bytes);
      expect(back).toHaveLength(w.length);
      for (let b = 0; b < w.length / QK8_0; b++) {
        let amax = 0;
        for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(w[b * QK8_0 + j]));
        const step = amax / 127;
        for (let j = 0; j < QK8_0; j++) {
          const i = b * QK8_0 + j;
          if (Math.abs(back[i] - w[i]) > step * (0.5 + 127 * 2 ** -11) + 1e-12) throw new Error(`${gg}[${i}]: ${back[i]} vs ${w[i]}, step ${step}`);
        }
      }
    }
  });

  it('float16 rounds to the nearest half (ties to even), keeps subnormals, infinities and NaN', () => {
    expect([1, -2, 65504, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11].map((x) => f16BitsToF32(f32ToF16Bits(x))))
      .toEqual([1, -2, 65504, Infinity, 2 ** -24, 0, 2 ** -24, 1, 1 + 2 ** -9]);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 2 ** ((seed % 30) - 20);
    for (let k = 0; k < 2000; k++) {
      const x = Math.fround(rand());
      const h = f32ToF16Bits(x);
      const err = Math.abs(f16BitsToF32(h) - x);
      for (const n of [h - 1, h + 1]) if ((n & 0x7c00) !== 0x7c00 && (n & 0x8000) === (h & 0x8000)) expect(err).toBeLessThanOrEqual(Math.abs(f16BitsToF32(n) - x));
    }
    const q = quantizeQ8_0(new Float32Array(32).fill(0));
    expect([...dequantizeQ8_0(q)]).toEqual(new Array(32).fill(0)); // an all-zero block: scale 0, no NaN
  });

  it('the stream refuses tensors out of plan, of the wrong size, or missing', async () => {
    const plan = [{ name: 'a', ne: [32, 2], type: GgmlType.Q8_0 }, { name: 'b', ne: [3], type: GgmlType.F32 }] as const;
    const kv = new Map([['general.alignment', u32(32)]]);
    const drain = async (data: [string, Float32Array][]) => {
      for await (const _ of ggufPieces(kv, plan, (async function* () { yield* data; })())) void _;
    };
    await expect(drain([['b', new Float32Array(3)], ['a', new Float32Array(64)]])).rejects.toThrow('tensor b came where a was planned');
    await expect(drain([['a', new Float32Array(60)]])).rejects.toThrow('tensor a has 60 values, its shape [32,2] needs 64');
    await expect(drain([['a', new Float32Array(64)]])).rejects.toThrow('the data ended after 1 of 2 tensors (next: b)');
    await expect(drain([['a', new Float32Array(64)], ['b', new Float32Array(3)]])).resolves.toBeUndefined();
  });

  it('the Ollama Modelfile points at the file and stops at the turn ends', () => {
    const m = ollamaModelfile('tiny-q8_0.gguf');
    expect(m).toContain('FROM ./tiny-q8_0.gguf\n');
    expect(m).toMatch(/TEMPLATE """[\s\S]*<\|im_start\|>assistant\n<think>\n\n<\/think>\n\n\{\{ end \}\}[\s\S]*"""/);
    for (const s of ['<|im_end|>', '<|im_start|>', '<|endoftext|>']) expect(m).toContain(`PARAMETER stop "${s}"`);
  });
});
