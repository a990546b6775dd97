/**
 * The safetensors format (https://huggingface.co/docs/safetensors): read F32, F16 and BF16 into float32, write F32
 * or BF16. The header is parsed and checked on its own (names, dtypes, shapes, offsets inside the file), so a large
 * file is read header first and then one tensor at a time; writing is header first, then each tensor's bytes.
 * Every malformed file is a CheckpointError naming the file (and tensor), never a hang.
 */
import { CheckpointError } from './errors.ts';
import type { HfTensor } from './model.ts';

export type WriteDtype = 'F32' | 'BF16';
export type ReadDtype = 'F32' | 'F16' | 'BF16';
const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsFile {
  tensors: Map<string, HfTensor>;
  metadata: Record<string, string>;
}

/** One tensor of a header; `begin`/`end` are byte offsets into the data (which starts at the header's `dataStart`). */
export interface SafetensorsEntry {
  name: string;
  dtype: ReadDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** File offset of the data: 8 + the header's length. */
  dataStart: number;
  /** Tensors in data order. */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

function failer(file: string) {
  return (msg: string, tensor?: string): never => {
    throw new CheckpointError(`${file}: ${msg}`, file, tensor);
  };
}

/** The header's JSON length from the file's first 8 bytes (checked against the file size and the 100 MB limit). */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number, file = 'model.safetensors'): number {
  const fail = failer(file);
  if (fileSize === 0) fail('the file is empty');
  if (fileSize < 8 || first8.length < 8) fail(`the file is ${fileSize} bytes, too short for the 8-byte header length`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const headerLen = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (headerLen > MAX_HEADER_BYTES) fail(`header of ${headerLen} bytes is over the 100 MB limit`);
  if (8 + headerLen > fileSize) fail(`header length ${headerLen} runs past the end of the file (${fileSize} bytes)`);
  return headerLen;
}

/**
 * Parses and checks a header: `json` is the file's bytes [8, 8 + headerLen). Every tensor must have a supported
 * dtype, a valid shape, offsets whose span matches shape × dtype, no overlap, and data inside the file's `fileSize`.
 */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number, file = 'model.safetensors'): SafetensorsHeader {
  const fail = failer(file);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + json.length;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
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
    entries.push({ name, dtype: e.dtype as ReadDtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin);
  let last: SafetensorsEntry | undefined;
  for (const s of entries) {
    if (s.end === s.begin) continue; // empty tensors occupy no bytes
    if (last && s.begin < last.end) fail(`tensors "${last.name}" and "${s.name}" have overlapping data_offsets`, s.name);
    if (!last || s.end > last.end) last = s;
  }
  return { file, dataStart, entries, metadata };
}

/** A file that can be read by byte range (a Blob, a file on disk, an HTTP resource, bytes in memory). */
export interface RangedSource {
  size: number;
  /** Bytes [start, end) of the file. */
  read(start: number, end: number): Promise<Uint8Array>;
}

/** Reads just the header of a safetensors file: its first 8 bytes, then the JSON. */
export async function readSafetensorsHeader(src: RangedSource, file = 'model.safetensors'): Promise<SafetensorsHeader> {
  const len = safetensorsHeaderLength(src.size >= 8 ? await src.read(0, 8) : new Uint8Array(0), src.size, file);
  return parseSafetensorsHeader(await src.read(8, 8 + len), src.size, file);
}

/** Pieces a tensor is read in (bounded memory beside the tensor itself); a multiple of 4 bytes. */
export const READ_PIECE_BYTES = 64 * 1024 * 1024;

/** One tensor of a parsed header, read from `src` in pieces of at most `pieceBytes` and decoded to float32. */
export async function readTensor(src: RangedSource, header: SafetensorsHeader, e: SafetensorsEntry, pieceBytes = READ_PIECE_BYTES): Promise<HfTensor> {
  const start = header.dataStart + e.begin, end = header.dataStart + e.end;
  const size = SIZES[e.dtype];
  const check = (raw: Uint8Array, want: number) => {
    if (raw.length !== want) throw new CheckpointError(`${header.file}: tensor "${e.name}" could not be read (got ${raw.length} of ${want} bytes)`, header.file, e.name);
    return raw;
  };
  if (e.dtype === 'F32' && end - start <= pieceBytes) {
    const raw = check(await src.read(start, end), end - start);
    // A view when the bytes are aligned and own their buffer; a copy otherwise.
    const own = raw.byteOffset % 4 === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
    return { shape: e.shape, data: new Float32Array(own.buffer, own.byteOffset, own.byteLength / 4) };
  }
  const out = new Float32Array((end - start) / size);
  const step = Math.max(4, pieceBytes - (pieceBytes % 4));
  for (let at = start; at < end; at += step) {
    const b = Math.min(end, at + step);
    decodeInto(check(await src.read(at, b), b - at), e.dtype, out, (at - start) / size);
  }
  return { shape: e.shape, data: out };
}

/** Parses a whole .safetensors file held in memory. */
export function readSafetensors(bytes: Uint8Array, file = 'model.safetensors'): SafetensorsFile {
  const len = safetensorsHeaderLength(bytes.subarray(0, 8), bytes.length, file);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + len), bytes.length, file);
  const tensors = new Map<string, HfTensor>();
  for (const e of header.entries) {
    const out = new Float32Array((e.end - e.begin) / SIZES[e.dtype]);
    decodeInto(bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end), e.dtype, out, 0);
    tensors.set(e.name, { shape: e.shape, data: out });
  }
  return { tensors, metadata: header.metadata };
}

/** Decodes raw little-endian values of `dtype` into `out` starting at element `at`. */
export function decodeInto(raw: Uint8Array, dtype: ReadDtype, out: Float32Array, at: number): void {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === 'F32') {
    if (raw.byteOffset % 4 === 0) out.set(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), at);
    else for (let i = 0; i < raw.byteLength / 4; i++) out[at + i] = view.getFloat32(4 * i, true);
    return;
  }
  const n = raw.byteLength / 2;
  if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer, out.byteOffset + 4 * at, n);
    for (let i = 0; i < n; i++) u32[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[at + i] = f16ToF32(view.getUint16(2 * i, true));
  }
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

export const dtypeBytes = (dtype: WriteDtype): number => SIZES[dtype];

/**
 * The first bytes of a safetensors file (8-byte length + JSON header padded to 8) for tensors of these names and
 * shapes in this order; their data follows in the same order. `dataBytes` is the data's total length.
 */
export function safetensorsHeader(
  tensors: Iterable<{ name: string; shape: number[] }>, dtype: WriteDtype = 'F32', metadata: Record<string, string> = { format: 'pt' },
): { bytes: Uint8Array; dataBytes: number } {
  const size = SIZES[dtype];
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const { name, shape } of tensors) {
    const n = shape.reduce((a, b) => a * b, 1) * size;
    header[name] = { dtype, shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + h.length);
  new DataView(bytes.buffer).setUint32(0, h.length, true);
  bytes.set(h, 8);
  return { bytes, dataBytes: offset };
}

/** A tensor's data as stored: its own bytes for F32 (a view, not a copy), converted for BF16. */
export function encodeTensor(data: Float32Array, dtype: WriteDtype): Uint8Array {
  return dtype === 'F32' ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(f32ToBf16(data).buffer);
}

/** Bytes of BF16 output converted at a time by encodeTensorPieces. */
export const ENCODE_PIECE_BYTES = 16 * 1024 * 1024;

/**
 * encodeTensor in pieces: F32 is one view of the data; BF16 is converted `pieceBytes` of output at a time, so a
 * large tensor never has a whole converted copy beside it.
 */
export function* encodeTensorPieces(data: Float32Array, dtype: WriteDtype, pieceBytes = ENCODE_PIECE_BYTES): Generator<Uint8Array> {
  if (dtype === 'F32') {
    yield encodeTensor(data, dtype);
    return;
  }
  const step = Math.max(1, Math.floor(pieceBytes / 2));
  for (let at = 0; at < data.length; at += step) yield encodeTensor(data.subarray(at, Math.min(data.length, at + step)), dtype);
}

/** Serialises tensors (in the given order) as one safetensors file of F32 or BF16, in memory (small files). */
export function writeSafetensors(
  tensors: Iterable<[string, HfTensor]>,
  dtype: WriteDtype = 'F32',
  metadata: Record<string, string> = { format: 'pt' },
): Uint8Array {
  const list = [...tensors];
  const { bytes: head, dataBytes } = safetensorsHeader(list.map(([name, t]) => ({ name, shape: t.shape })), dtype, metadata);
  const out = new Uint8Array(head.length + dataBytes);
  out.set(head, 0);
  let at = head.length;
  for (const [, t] of list) {
    const b = encodeTensor(t.data, dtype);
    out.set(b, at);
    at += b.length;
  }
  return out;
}
