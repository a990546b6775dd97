// The health panel's warnings from facts (quota under the next checkpoint, no checkpoint in N hours, storage not
// persistent, no backup in N days), the next checkpoint's size, and what the store holds by category.
import { describe, expect, it } from 'vitest';
import { healthWarnings, nextCheckpointBytes, type HealthFacts } from '../../src/ui/lib/health.ts';
import { storageByCategory } from '../../src/store/usage.ts';
import { presets } from '../../src/engine/config/model-config.ts';
import { countParameters } from '../../src/engine/memory-estimate.ts';
import { scratchDbs } from './scratch-db.ts';

const H = 3_600_000;
const D = 24 * H;
const NOW = 1_000 * D;
const LIMITS = { checkpointHours: 3, backupDays: 7 };
const healthy: HealthFacts = { now: NOW, storage: { usage: 1e9, quota: 100e9, persisted: true }, nextCheckpointBytes: 7e9, nextCheckpointFits: true, trainingSince: NOW - H, lastCheckpointAt: NOW - H / 2, oldestCheckpointAt: NOW - 2 * D, lastBackupAt: NOW - D };
const kinds = (f: Partial<HealthFacts>) => healthWarnings({ ...healthy, ...f }, LIMITS).map((w) => w.kind);

describe('health warnings', () => {
  it('says nothing when all is well', () => {
    expect(healthWarnings(healthy, LIMITS)).toEqual([]);
  });

  it('warns when the next checkpoint does not fit: by the probe, or by the reported free space', () => {
    expect(kinds({ nextCheckpointFits: false })).toEqual(['quota']);
    expect(kinds({ storage: { usage: 95e9, quota: 100e9, persisted: true } })).toEqual(['quota']);
    expect(kinds({ storage: { usage: 93e9, quota: 100e9, persisted: true } })).toEqual([]);
    const [w] = healthWarnings({ ...healthy, nextCheckpointFits: false }, LIMITS);
    expect(w.message).toContain('6.5 GB');
    expect(w.action).toMatch(/Delete checkpoints/);
    expect(kinds({ nextCheckpointBytes: undefined, nextCheckpointFits: false })).toEqual([]);
  });

  it('warns after N hours of training without a checkpoint, counted from the later of the start and the last checkpoint', () => {
    expect(kinds({ trainingSince: NOW - 10 * H, lastCheckpointAt: NOW - 4 * H })).toEqual(['checkpoint-age']);
    expect(kinds({ trainingSince: NOW - 10 * H, lastCheckpointAt: NOW - 2 * H })).toEqual([]);
    expect(kinds({ trainingSince: NOW - H, lastCheckpointAt: NOW - 30 * D })).toEqual([]); // training started an hour ago
    expect(kinds({ trainingSince: undefined, lastCheckpointAt: NOW - 30 * D })).toEqual([]); // not training: nothing at risk
    expect(kinds({ trainingSince: NOW - 4 * H, lastCheckpointAt: undefined })).toEqual(['checkpoint-age']);
  });

  it('warns when storage is not persistent', () => {
    expect(kinds({ storage: { usage: 0, quota: 100e9, persisted: false } })).toEqual(['not-persistent']);
  });

  it('warns after N days without a backup; never backed up counts from the oldest checkpoint', () => {
    expect(kinds({ lastBackupAt: NOW - 8 * D })).toEqual(['backup']);
    expect(kinds({ lastBackupAt: undefined, oldestCheckpointAt: NOW - 8 * D })).toEqual(['backup']);
    expect(kinds({ lastBackupAt: undefined, oldestCheckpointAt: NOW - 6 * D })).toEqual([]);
    expect(kinds({ lastBackupAt: undefined, oldestCheckpointAt: undefined })).toEqual([]);
    expect(healthWarnings({ ...healthy, lastBackupAt: undefined, oldestCheckpointAt: NOW - 9 * D }, LIMITS)[0].message).toContain('Never backed up');
  });

  it('lists every warning that applies, quota first', () => {
    expect(kinds({ nextCheckpointFits: false, storage: { usage: 0, quota: 1e12, persisted: false }, lastBackupAt: NOW - 30 * D, trainingSince: NOW - 5 * H, lastCheckpointAt: undefined })).toEqual(['quota', 'checkpoint-age', 'not-persistent', 'backup']);
  });
});

describe('next checkpoint size', () => {
  it('is the latest checkpoint of the current line', () => {
    const cs = [{ bytes: 10, createdAt: 1 }, { bytes: 30, createdAt: 3, abandonedAt: 4 }, { bytes: 20, createdAt: 2 }];
    expect(nextCheckpointBytes(cs, undefined, false)).toBe(20);
  });

  it('before the first one: weights and two Adam moments in f32 (weights only with LoRA)', () => {
    const tiny = presets.tiny;
    expect(nextCheckpointBytes([], tiny, false)).toBe(countParameters(tiny) * 12);
    expect(nextCheckpointBytes([], tiny, true)).toBe(countParameters(tiny) * 4);
    expect(nextCheckpointBytes([], undefined, false)).toBeUndefined();
  });
});

describe('storage by category', () => {
  const fresh = scratchDbs('health-usage');

  it('sums checkpoints per model, datasets and imported files, and estimates the history', async () => {
    const db = fresh();
    await db.models.bulkPut([{ id: 'a', name: 'Model A' }, { id: 'b', name: 'Model B' }] as never);
    const ckpt = (id: string, modelId: string, bytes: number) => ({ id, modelId, step: 1, createdAt: 1, bytes, chunkCount: 0, chunkBytes: 0, pinned: false, tensors: [], trainerState: {}, trainConfig: {}, profile: '', tokenizerRef: '', reason: '' });
    await db.checkpoints.bulkPut([ckpt('a1', 'a', 100), ckpt('a2', 'a', 50), ckpt('b1', 'b', 7)]);
    await db.files.add({ name: 'x.jsonl', size: 1234, sha256: '', blob: new Blob(['x']), droppedAt: 0 });
    await db.modelFiles.put({ modelId: 'b', path: 'model.safetensors', blob: new Blob([new Uint8Array(99)]) });
    await db.metrics.bulkPut([1, 2, 3].map((step) => ({ modelId: 'a', step, time: 0, itemId: 1, fileStep: step, loss: 1, lr: 0, gradNorm: 0, tokens: 0, ms: 0, tokensPerSecond: 0 })));
    const cats = await storageByCategory(db);
    const by = (label: string) => cats.find((c) => c.label === label);
    expect(by('checkpoints of Model A')).toMatchObject({ bytes: 150, count: 2, modelId: 'a' });
    expect(by('checkpoints of Model B')).toMatchObject({ bytes: 7, count: 1 });
    expect(by('datasets')).toMatchObject({ bytes: 1234, count: 1 });
    expect(by('imported model files')).toMatchObject({ bytes: 99, count: 1 });
    const history = cats.find((c) => c.category === 'metrics and history')!;
    expect(history).toMatchObject({ count: 3, estimated: true });
    expect(history.bytes).toBeGreaterThan(3 * 50);
  });
});
