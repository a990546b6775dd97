// safetensors codec: F32/F16/BF16 reading, F32/BF16 writing, and every malformed-file case as a CheckpointError.
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/engine/errors.ts';
import { encodeTensor, encodeTensorPieces, readSafetensors, readSafetensorsHeader, readTensor, writeSafetensors } from '../../src/engine/safetensors.ts';
import { readNpy, writeNpy } from '../../src/engine/npy.ts';

/** A file from a header object and raw data bytes, with an optional forced header length. */
function file(header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: number): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, headerLen ?? h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function expectCheckpointError(bytes: Uint8Array, pattern: RegExp, tensor?: string) {
  let err: unknown;
  try {
    readSafetensors(bytes, 'x.safetensors');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CheckpointError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).toMatch(/^x\.safetensors: /);
  if (tensor) expect((err as CheckpointError).tensor).toBe(tensor);
}

describe('safetensors', () => {
  it('round-trips F32 exactly and BF16 to 3 significant digits', () => {
    const a = { shape: [2, 3], data: Float32Array.from([1, -2.5, 3.14159, 0, 1e-3, -65504]) };
    const b = { shape: [1], data: Float32Array.from([7]) };
    const f32 = readSafetensors(writeSafetensors([['a', a], ['b', b]], 'F32'));
    expect([...f32.tensors.keys()]).toEqual(['a', 'b']);
    expect(f32.tensors.get('a')).toEqual(a);
    expect(f32.metadata).toEqual({ format: 'pt' });
    const bf = readSafetensors(writeSafetensors([['a', a]], 'BF16')).tensors.get('a')!;
    expect(bf.shape).toEqual([2, 3]);
    bf.data.forEach((v, i) => expect(Math.abs(v - a.data[i])).toBeLessThanOrEqual(Math.abs(a.data[i]) / 128));
    expect(bf.data[0]).toBe(1);
    expect(bf.data[1]).toBe(-2.5);
  });

  it('reads a file header first, then each tensor by ranges in small pieces, as a whole read gives it', async () => {
    const a = { shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => i / 7 - 1) };
    const b = { shape: [7], data: Float32Array.from({ length: 7 }, (_, i) => 3 - i * 1.5) };
    for (const dtype of ['F32', 'BF16'] as const) {
      const bytes = writeSafetensors([['a', a], ['b', b]], dtype);
      const whole = readSafetensors(bytes).tensors;
      const ranges: [number, number][] = [];
      const src = { size: bytes.length, read: async (s: number, e: number) => (ranges.push([s, e]), bytes.slice(s, e)) };
      const header = await readSafetensorsHeader(src, 'x.safetensors');
      expect(header.entries.map((e) => [e.name, e.dtype, e.shape])).toEqual([['a', dtype, [3, 5]], ['b', dtype, [7]]]);
      expect(ranges).toHaveLength(2); // the length, then the JSON
      for (const e of header.entries) expect(await readTensor(src, header, e, 8)).toEqual(whole.get(e.name)); // 8-byte pieces
      expect(Math.max(...ranges.slice(2).map(([s, e]) => e - s))).toBeLessThanOrEqual(8);
    }
  });

  it('encodes BF16 in pieces exactly as in one go', () => {
    const data = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 100);
    const pieces = [...encodeTensorPieces(data, 'BF16', 64)];
    expect(pieces.length).toBe(Math.ceil(1001 / 32));
    const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
    expect(joined).toEqual(encodeTensor(data, 'BF16'));
    expect([...encodeTensorPieces(data, 'F32', 64)]).toHaveLength(1); // F32: the data's own bytes, no copy
  });

  it('rounds to nearest even when writing BF16', () => {
    // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even → 1; 1 + 3·2^-8 → 1 + 2^-6
    const t = { shape: [3], data: Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN]) };
    const r = readSafetensors(writeSafetensors([['t', t]], 'BF16')).tensors.get('t')!.data;
    expect(r[0]).toBe(1);
    expect(r[1]).toBe(1 + 2 ** -6);
    expect(Number.isNaN(r[2])).toBe(true);
  });

  it('reads F16 (normal, subnormal, negative, infinity) and BF16', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555]);
    const bf16 = new Uint16Array([0x3f80, 0xc040]);
    const data = new Uint8Array(14);
    data.set(new Uint8Array(f16.buffer), 0);
    data.set(new Uint8Array(bf16.buffer), 10);
    const r = readSafetensors(file({ h: { dtype: 'F16', shape: [5], data_offsets: [0, 10] }, b: { dtype: 'BF16', shape: [2], data_offsets: [10, 14] } }, data));
    const h = r.tensors.get('h')!.data;
    expect([h[0], h[1], h[2], h[3]]).toEqual([1, -2, 2 ** -24, Infinity]);
    expect(h[4]).toBeCloseTo(0.33325, 5);
    expect([...r.tensors.get('b')!.data]).toEqual([1, -3]);
  });

  it('rejects an empty file', () => expectCheckpointError(new Uint8Array(0), /empty/));
  it('rejects a file shorter than the length prefix', () => expectCheckpointError(new Uint8Array(5), /too short/));
  it('rejects a header length past the end', () => expectCheckpointError(file({}, new Uint8Array(0), 1000), /runs past the end/));
  it('rejects a header over 100 MB without reading it', () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setUint32(0, 200 * 1024 * 1024, true);
    expectCheckpointError(b, /over the 100 MB limit/);
    new DataView(b.buffer).setUint32(4, 1, true); // > 4 GiB: high word set
    expectCheckpointError(b, /over the 100 MB limit/);
  });
  it('rejects a header that is not JSON or not an object', () => {
    expectCheckpointError(file('{"a": [1, 2'), /not valid JSON/);
    expectCheckpointError(file('[1,2]'), /not a JSON object/);
  });
  it('rejects data cut short', () =>
    expectCheckpointError(file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(12)), /data cut short.*"w"/, 'w'));
  it('rejects offsets out of range or disagreeing with the shape', () => {
    expectCheckpointError(file({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 4] } }, new Uint8Array(8)), /invalid data_offsets/, 'w');
    expectCheckpointError(file({ w: { dtype: 'F32', shape: [2], data_offsets: [-4, 4] } }, new Uint8Array(8)), /invalid data_offsets/, 'w');
    expectCheckpointError(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, new Uint8Array(12)), /span 12 bytes but shape \[2\] of F32 needs 8/, 'w');
    expectCheckpointError(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, new Uint8Array(8)), /invalid data_offsets/, 'w');
  });
  it('rejects overlapping tensors', () =>
    expectCheckpointError(
      file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
      /"a" and "b" have overlapping/,
    ));
  it('rejects an unknown dtype and a bad shape', () => {
    expectCheckpointError(file({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /unsupported dtype "I64"/, 'w');
    expectCheckpointError(file({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /invalid shape/, 'w');
  });
  it('keeps __metadata__ and allows zero-size tensors', () => {
    const r = readSafetensors(file({ __metadata__: { format: 'pt' }, e: { dtype: 'F32', shape: [0], data_offsets: [0, 0] }, w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)));
    expect(r.metadata).toEqual({ format: 'pt' });
    expect(r.tensors.get('e')!.data.length).toBe(0);
  });
});

describe('npy', () => {
  it('round-trips float32 and int32 and rejects other dtypes', () => {
    const f = { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) };
    const bytes = writeNpy(f);
    expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0);
    expect(readNpy(bytes)).toEqual(f);
    const i = { shape: [3], data: Int32Array.from([1, -2, 3]) };
    expect(readNpy(writeNpy(i))).toEqual(i);
    const bad = writeNpy(f);
    bad.set(new TextEncoder().encode("<f8"), bad.indexOf(0x3c));
    expect(() => readNpy(bad, 'x.npy')).toThrow(/x.npy: dtype <f8 not supported/);
    expect(() => readNpy(bytes.subarray(0, bytes.length - 4), 'x.npy')).toThrow(/cut short/);
  });
});
