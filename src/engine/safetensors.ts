/**
 * The safetensors format (https://huggingface.co/docs/safetensors): read F32, F16 and BF16 into float32,
 * write F32 or BF16. Every malformed file is a CheckpointError naming the file (and tensor), never a hang.
 */
import { CheckpointError } from './errors.ts';
import type { HfTensor } from './model.ts';

export type WriteDtype = 'F32' | 'BF16';
const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsFile {
  tensors: Map<string, HfTensor>;
  metadata: Record<string, string>;
}

/** Parses a whole .safetensors file held in memory. */
export function readSafetensors(bytes: Uint8Array, file = 'model.safetensors'): SafetensorsFile {
  const fail = (msg: string, tensor?: string): never => {
    throw new CheckpointError(`${file}: ${msg}`, file, tensor);
  };
  if (bytes.length === 0) fail('the file is empty');
  if (bytes.length < 8) fail(`the file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true), hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > MAX_HEADER_BYTES) fail(`header of ${headerLen} bytes is over the 100 MB limit`);
  if (8 + headerLen > bytes.length) fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw === 'object' && raw !== null) Object.assign(metadata, raw);
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`tensor "${name}" has no description`, name);
    if (typeof e.dtype !== 'string' || !(e.dtype in SIZES)) {
      fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(e.dtype)} (expected F32, F16 or BF16)`, name);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor "${name}" has an invalid shape`, name);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1]) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`, name);
    }
    const [begin, end] = off as [number, number];
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== n * SIZES[e.dtype as string]) {
      fail(`tensor "${name}": data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape}] of ${e.dtype} needs ${n * SIZES[e.dtype as string]}`, name);
    }
    if (end > dataLen) fail(`data cut short: tensor "${name}" ends at byte ${end} of the data but only ${dataLen} bytes follow the header`, name);
    spans.push({ name, begin, end });
    entries.push({ name, dtype: e.dtype as string, shape: shape as number[], begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin);
  let last: (typeof spans)[number] | undefined;
  for (const s of spans) {
    if (s.end === s.begin) continue; // empty tensors occupy no bytes
    if (last && s.begin < last.end) fail(`tensors "${last.name}" and "${s.name}" have overlapping data_offsets`, s.name);
    if (!last || s.end > last.end) last = s;
  }
  const tensors = new Map<string, HfTensor>();
  for (const e of entries) {
    const raw = new Uint8Array(e.end - e.begin); // a copy: aligned, independent of the file's buffer
    raw.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { shape: e.shape, data: toFloat32(raw, e.dtype) });
  }
  return { tensors, metadata };
}

function toFloat32(raw: Uint8Array, dtype: string): Float32Array {
  if (dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const out = new Float32Array(u16.length);
  if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < u16.length; i++) u32[i] = u16[i] << 16;
  } else {
    for (let i = 0; i < u16.length; i++) out[i] = f16ToF32(u16[i]);
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** float32 → bfloat16 bits, rounding to nearest even (NaN stays NaN). */
function f32ToBf16(src: Float32Array): Uint16Array {
  const u32 = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u32[i];
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) out[i] = 0x7fc0;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** Serialises tensors (in the given order) as one safetensors file of F32 or BF16. */
export function writeSafetensors(
  tensors: Iterable<[string, HfTensor]>,
  dtype: WriteDtype = 'F32',
  metadata: Record<string, string> = { format: 'pt' },
): Uint8Array {
  const size = SIZES[dtype];
  const header: Record<string, unknown> = { __metadata__: metadata };
  const list = [...tensors];
  let offset = 0;
  for (const [name, t] of list) {
    const n = t.data.length;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + n * size] };
    offset += n * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, h.length, true);
  view.setUint32(4, 0, true);
  out.set(h, 8);
  let at = 8 + h.length;
  for (const [, t] of list) {
    const bytes = dtype === 'F32' ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : new Uint8Array(f32ToBf16(t.data).buffer);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}
