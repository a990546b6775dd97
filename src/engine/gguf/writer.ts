/**
 * A GGUF (version 3) file written as a stream: the header (key/values and tensor infos, whose offsets are known
 * from the tensors' shapes and types before any data exists) first, then each tensor's bytes as its values arrive,
 * every tensor padded to the alignment. Only one tensor (plus one encoded piece of it) is in memory at a time.
 * Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
 */
import { Q8_0_BLOCK_BYTES, QK8_0, encodeF16, quantizeQ8_0 } from './q8_0.ts';

/** ggml tensor types this writer encodes (ggml.h's enum ggml_type). */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];
export const ggmlTypeName = (t: GgmlType): string => ({ 0: 'F32', 1: 'F16', 8: 'Q8_0' })[t];

/** GGUF metadata value types (gguf.md's gguf_metadata_value_type). */
export const GgufValueType = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;

/** A metadata value with its GGUF type; arrays hold one element type. */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'i32[]'; value: ArrayLike<number> };

export const u32 = (value: number): GgufValue => ({ type: 'u32', value });
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });

/** A tensor of the file: GGUF name, shape in ggml order (ne[0], the row length, first) and type. */
export interface GgufTensorPlan {
  name: string;
  ne: readonly number[];
  type: GgmlType;
}

export const GGUF_VERSION = 3;
export const DEFAULT_ALIGNMENT = 32;
/** Values encoded per piece of output (4M values: 16 MB of F32). */
export const PIECE_VALUES = 4 * 1024 * 1024;

/** Bytes of a tensor's data of this type and shape (Q8_0 needs rows that are whole blocks). */
export function tensorBytes(ne: readonly number[], type: GgmlType): number {
  const n = ne.reduce((a, b) => a * b, 1);
  if (type === GgmlType.F32) return 4 * n;
  if (type === GgmlType.F16) return 2 * n;
  if (ne[0] % QK8_0 !== 0) throw new Error(`Q8_0 needs rows of a multiple of ${QK8_0} values, not ${ne[0]}`);
  return (n / QK8_0) * Q8_0_BLOCK_BYTES;
}

const pad = (n: number, align: number) => (align - (n % align)) % align;

/** Little-endian bytes appended to growing pieces (the header: mostly the vocabulary's strings). */
class ByteSink {
  readonly pieces: Uint8Array[] = [];
  private buf = new Uint8Array(1 << 20);
  private view = new DataView(this.buf.buffer);
  private at = 0;
  length = 0;
  private room(n: number) {
    if (this.at + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) (this.buf = new Uint8Array(n)), (this.view = new DataView(this.buf.buffer));
  }
  flush() {
    if (this.at) this.pieces.push(this.buf.slice(0, this.at));
    this.at = 0;
  }
  u8(v: number) { this.room(1); this.view.setUint8(this.at, v); this.at++; this.length++; }
  u32(v: number) { this.room(4); this.view.setUint32(this.at, v, true); this.at += 4; this.length += 4; }
  i32(v: number) { this.room(4); this.view.setInt32(this.at, v, true); this.at += 4; this.length += 4; }
  f32(v: number) { this.room(4); this.view.setFloat32(this.at, v, true); this.at += 4; this.length += 4; }
  u64(v: number) { this.room(8); this.view.setBigUint64(this.at, BigInt(v), true); this.at += 8; this.length += 8; }
  bytes(b: Uint8Array) { this.room(b.length); this.buf.set(b, this.at); this.at += b.length; this.length += b.length; }
  string(s: string) {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
}
const encoder = new TextEncoder();

function writeValue(out: ByteSink, v: GgufValue): void {
  const T = GgufValueType;
  switch (v.type) {
    case 'u32': out.u32(T.UINT32); return out.u32(v.value);
    case 'i32': out.u32(T.INT32); return out.i32(v.value);
    case 'f32': out.u32(T.FLOAT32); return out.f32(v.value);
    case 'bool': out.u32(T.BOOL); return out.u8(v.value ? 1 : 0);
    case 'string': out.u32(T.STRING); return out.string(v.value);
    case 'string[]':
      out.u32(T.ARRAY); out.u32(T.STRING); out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      return;
    case 'i32[]':
      out.u32(T.ARRAY); out.u32(T.INT32); out.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) out.i32(v.value[i]);
      return;
  }
}

/** The header's bytes (padded to the alignment) and where each tensor's data starts, relative to the data section. */
export function ggufHeader(kvs: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorPlan[], alignment = DEFAULT_ALIGNMENT): { pieces: Uint8Array[]; bytes: number; offsets: number[]; dataBytes: number } {
  const out = new ByteSink();
  out.bytes(encoder.encode('GGUF'));
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(kvs.size);
  for (const [key, v] of kvs) {
    out.string(key);
    writeValue(out, v);
  }
  const offsets: number[] = [];
  let at = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF: tensor ${t.name} is planned twice`);
    names.add(t.name);
    out.string(t.name);
    out.u32(t.ne.length);
    for (const d of t.ne) out.u64(d);
    out.u32(t.type);
    out.u64(at);
    offsets.push(at);
    const n = tensorBytes(t.ne, t.type);
    at += n + pad(n, alignment);
  }
  const p = pad(out.length, alignment);
  if (p) out.bytes(new Uint8Array(p));
  out.flush();
  return { pieces: out.pieces, bytes: out.length, offsets, dataBytes: at };
}

/** A tensor's float32 values in pieces of whole rows, encoded as `type`. */
export function* encodeTensor(data: Float32Array, ne: readonly number[], type: GgmlType, pieceValues = PIECE_VALUES): Generator<Uint8Array> {
  const row = ne[0];
  const step = Math.max(row, Math.floor(pieceValues / row) * row);
  for (let from = 0; from < data.length; from += step) {
    const to = Math.min(data.length, from + step);
    if (type === GgmlType.F32) yield new Uint8Array(data.buffer, data.byteOffset + 4 * from, 4 * (to - from)).slice();
    else if (type === GgmlType.F16) yield encodeF16(data, from, to);
    else yield quantizeQ8_0(data, from, to);
  }
}

/**
 * The GGUF file as pieces: header first, then each planned tensor as `data` yields it (same names, same order,
 * float32 values, ggml's row-major layout: ne[0] varies fastest), each padded to the alignment. A tensor that is
 * missing, extra, out of order or of the wrong size is an error before any of its bytes are written.
 */
export async function* ggufPieces(
  kvs: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensorPlan[],
  data: AsyncIterable<[string, Float32Array]>,
  alignment = DEFAULT_ALIGNMENT,
): AsyncGenerator<Uint8Array> {
  const header = ggufHeader(kvs, tensors, alignment);
  yield* header.pieces;
  let i = 0;
  for await (const [name, values] of data) {
    const t = tensors[i];
    if (!t) throw new Error(`GGUF: tensor ${name} was not planned (${tensors.length} tensors planned)`);
    if (t.name !== name) throw new Error(`GGUF: tensor ${name} came where ${t.name} was planned (tensor ${i})`);
    const n = t.ne.reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new Error(`GGUF: tensor ${name} has ${values.length} values, its shape [${t.ne}] needs ${n}`);
    yield* encodeTensor(values, t.ne, t.type);
    const p = pad(tensorBytes(t.ne, t.type), alignment);
    if (p) yield new Uint8Array(p);
    i++;
  }
  if (i !== tensors.length) throw new Error(`GGUF: the data ended after ${i} of ${tensors.length} tensors (next: ${tensors[i].name})`);
}
