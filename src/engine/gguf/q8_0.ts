/**
 * The tensor encodings a GGUF export writes: float32 → float16 (round to nearest even, as numpy's astype) and
 * Q8_0 (ggml's quantize_row_q8_0_ref: blocks of 32 values along a row, each an f16 scale d = amax/127 followed by
 * 32 int8 values round(x/d), halves away from zero), with the inverse for tests and checks.
 */

/** Values per Q8_0 block and bytes per block (f16 scale + 32 int8). */
export const QK8_0 = 32;
export const Q8_0_BLOCK_BYTES = 2 + QK8_0;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, rounding to nearest even; overflow gives ±Infinity, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half of the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h; // a carry into the exponent field gives the smallest normal, as it should
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry may reach Infinity, as it should
  return sign | h;
}

/** IEEE half bits → number. */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** `src[from, to)` as little-endian float16 bytes. */
export function encodeF16(src: Float32Array, from = 0, to = src.length): Uint8Array {
  const out = new Uint8Array(2 * (to - from));
  const view = new DataView(out.buffer);
  for (let i = from; i < to; i++) view.setUint16(2 * (i - from), f32ToF16Bits(src[i]), true);
  return out;
}

/** C's roundf: halves away from zero. */
const roundf = (x: number) => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);

/** Q8_0 bytes of `src[from, to)`; `from` and `to` on block boundaries (whole rows whose length is a multiple of 32). */
export function quantizeQ8_0(src: Float32Array, from = 0, to = src.length): Uint8Array {
  if ((to - from) % QK8_0 !== 0 || from % QK8_0 !== 0) throw new Error(`Q8_0: ${to - from} values from ${from} are not whole blocks of ${QK8_0}`);
  const blocks = (to - from) / QK8_0;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const block = new Float32Array(QK8_0);
  for (let b = 0; b < blocks; b++) {
    const at = from + b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) {
      block[j] = src[at + j];
      const a = Math.abs(block[j]);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let j = 0; j < QK8_0; j++) view.setInt8(o + 2 + j, roundf(Math.fround(block[j] * id)));
  }
  return out;
}

/** Q8_0 bytes back to float32 (d·q per value). */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.length % Q8_0_BLOCK_BYTES !== 0) throw new Error(`Q8_0: ${bytes.length} bytes are not whole blocks of ${Q8_0_BLOCK_BYTES}`);
  const blocks = bytes.length / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(blocks * QK8_0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16BitsToF32(view.getUint16(o, true));
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = d * view.getInt8(o + 2 + j);
  }
  return out;
}
