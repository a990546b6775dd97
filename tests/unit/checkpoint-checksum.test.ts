// Damaged checkpoint chunks are named when read: every chunk's CRC-32 is computed while writing (streamed, chunk by
// chunk) and kept in the manifest; read, readStream and streamTensors check each chunk they read (its length and
// CRC-32) and throw CheckpointDamagedError naming the checkpoint and the chunk; an older manifest without checksums
// still loads.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { scratchDbs } from './scratch-db.ts';
import { CheckpointDamagedError, CheckpointStore, type CheckpointMeta, type CheckpointTensor } from '../../src/store/checkpoints.ts';
import { crc32 } from '../../src/store/crc32.ts';

const freshDb = scratchDbs('ckpt-crc');
const meta: CheckpointMeta = { modelId: 'm1', step: 3, trainerState: {}, trainConfig: {}, profile: 'sft', tokenizerRef: 't', reason: 'interval' };
const sizes = [10, 130, 3, 64, 25];
const tensorAt = (k: number): CheckpointTensor => ({ name: `t${k}`, dtype: 'float32', shape: [sizes[k]], data: Float32Array.from({ length: sizes[k] }, (_, i) => k * 1000 + i) });

async function* stream(): AsyncGenerator<CheckpointTensor> {
  for (let k = 0; k < sizes.length; k++) yield tensorAt(k);
}

async function drain(it: AsyncIterable<CheckpointTensor>): Promise<number> {
  let n = 0;
  for await (const t of it) n += t.data.length;
  return n;
}

describe('checkpoint chunk checksums', () => {
  it('crc32 is the zlib CRC-32, in one go or continued', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const bytes = Uint8Array.from({ length: 1037 }, (_, i) => (i * 131 + 7) & 0xff);
    for (const n of [0, 1, 7, 8, 9, 64, 1037]) expect(crc32(bytes.subarray(0, n))).toBe(zlibCrc32(bytes.subarray(0, n)));
    expect(crc32(bytes.subarray(500), crc32(bytes.subarray(0, 500)))).toBe(crc32(bytes));
  });

  it('the manifest holds one CRC-32 per chunk, and an intact checkpoint reads back', async () => {
    const db = await freshDb();
    const store = new CheckpointStore(db, 256);
    const res = await store.writeStream(meta, stream());
    expect(res.saved).toBe(true);
    const m = (await db.checkpoints.get((res as { id: string }).id))!;
    expect(m.chunkCrc32).toHaveLength(m.chunkCount);
    for (let c = 0; c < m.chunkCount; c++) expect(m.chunkCrc32![c]).toBe(crc32(new Uint8Array((await db.checkpointChunks.get([m.id, c]))!.data)));
    expect(await drain(store.readStream(m.id))).toBe(sizes.reduce((a, b) => a + b, 0));
    expect((await store.read(m.id)).tensors.map((t) => t.data.length)).toEqual(sizes);
  });

  it('a flipped byte or a truncated chunk is a CheckpointDamagedError naming the chunk, on every read path', async () => {
    const db = await freshDb();
    const store = new CheckpointStore(db, 256);
    const { id } = (await store.writeStream(meta, stream())) as { id: string };
    const m = (await db.checkpoints.get(id))!;
    const row = (await db.checkpointChunks.get([id, 1]))!;
    const bytes = new Uint8Array(row.data.slice(0));
    bytes[17] ^= 0x04; // one bit, as bit rot would
    await db.checkpointChunks.put({ ...row, data: bytes.buffer });
    const damaged = (e: unknown) => e instanceof CheckpointDamagedError && e.chunk === 1 && e.checkpointId === id && /chunk 1 of \d+ is damaged: its CRC-32/.test(e.message);
    await expect(drain(store.readStream(id))).rejects.toSatisfy(damaged);
    await expect(drain(store.streamTensors(m))).rejects.toSatisfy(damaged);
    await expect(store.read(id)).rejects.toSatisfy(damaged);
    // A tensor wholly in an intact chunk still reads (only the chunks read are checked).
    expect((await store.read(id, (n) => n === 't0')).tensors[0].data).toEqual(tensorAt(0).data);

    await db.checkpointChunks.put({ ...row, data: row.data.slice(0, 100) });
    await expect(store.read(id)).rejects.toThrow(/chunk 1 of \d+ is damaged: 100 bytes where 256 were written/);
  });

  it('a manifest written before checksums (no chunkCrc32) still loads; its lengths are checked', async () => {
    const db = await freshDb();
    const store = new CheckpointStore(db, 256);
    const { id } = (await store.writeStream(meta, stream())) as { id: string };
    await db.checkpoints.update(id, { chunkCrc32: undefined });
    expect((await store.read(id)).tensors).toHaveLength(sizes.length);
    const row = (await db.checkpointChunks.get([id, 0]))!;
    await db.checkpointChunks.put({ ...row, data: row.data.slice(0, 8) });
    await expect(store.read(id)).rejects.toBeInstanceOf(CheckpointDamagedError);
  });
});
