// Retention as the daemon and the page see it: the config fields and settings stored before they existed (the
// retired keepCheckpoints), the size budget from the config, the storage quota or the fallback, and the API's dry
// run and manual-delete warning over real checkpoints in fake-indexeddb.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { ModelRow } from '../../src/store/db.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { SettingsRepo } from '../../src/store/state.ts';
import { CONFIG_KEY, FALLBACK_RETENTION_BUDGET_BYTES, loadTrainConfig, retentionBudget, retentionPolicy, storageQuota, updateTrainConfig } from '../../src/daemon/config.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { defaultTrainConfig, parseTrainConfig } from '../../src/engine/config/train-config.ts';

const freshDb = scratchDbs('retention-config');
const H = 3_600_000;

const storage = (quota: number | undefined, fail = false) => ({
  estimate: async () => {
    if (fail) throw new Error('no estimate');
    return { quota, usage: 0 };
  },
  persisted: async () => false,
  persist: async () => false,
});

describe('retention config', () => {
  it('settings stored with the retired keepCheckpoints still load; the next save drops it; a patch with it is refused', async () => {
    const db = freshDb();
    const settings = new SettingsRepo(db);
    await settings.set(CONFIG_KEY, { keepCheckpoints: 3, batchSize: 2 });
    const cfg = await loadTrainConfig(db);
    expect(cfg.batchSize).toBe(2);
    expect(cfg.retentionMinAgeHours).toBe(36);
    const r = await updateTrainConfig(db, { retentionMinAgeHours: 48 });
    expect(r.errors).toEqual([]);
    expect(r.config.retentionMinAgeHours).toBe(48);
    expect(await settings.get(CONFIG_KEY)).toEqual({ batchSize: 2, retentionMinAgeHours: 48 });
    const bad = await updateTrainConfig(db, { keepCheckpoints: 5 });
    expect(bad.ok).toBe(false);
    expect(bad.errors[0].field).toBe('keepCheckpoints');
  });

  it('checks the ranges of the new fields', () => {
    expect(() => parseTrainConfig({ checkpointEveryMinutes: 0 })).toThrow(/checkpointEveryMinutes.*\[1, 1440\]/);
    expect(() => parseTrainConfig({ retentionMinAgeHours: -1 })).toThrow(/retentionMinAgeHours/);
    expect(() => parseTrainConfig({ retentionQuotaShare: 0 })).toThrow(/retentionQuotaShare.*\[0\.05, 1\]/);
    expect(parseTrainConfig({ retentionBudgetGB: 0.5, retentionDailyDays: 0 })).toMatchObject({ retentionBudgetGB: 0.5, retentionDailyDays: 0 });
  });

  it('the budget: the config\'s GB when set, else the share of the quota, else the fixed fallback', async () => {
    const cfg = defaultTrainConfig();
    expect(retentionBudget({ ...cfg, retentionBudgetGB: 150 }, 1e12)).toEqual({ bytes: 150 * 1024 ** 3, source: 'retentionBudgetGB = 150' });
    expect(retentionBudget(cfg, 1.2e12)).toEqual({ bytes: 6e11, source: '50% of the 1.1 TB storage quota' });
    expect(retentionBudget(cfg, undefined).bytes).toBe(FALLBACK_RETENTION_BUDGET_BYTES);
    expect(retentionPolicy({ ...cfg, retentionQuotaShare: 0.25 }, 4e11)).toEqual({ minAgeHours: 36, dailyDays: 7, budgetBytes: 1e11 });
    expect(await storageQuota(storage(5e11))).toBe(5e11);
    expect(await storageQuota(storage(0))).toBeUndefined();
    expect(await storageQuota(storage(5e11, true))).toBeUndefined();
    expect(await storageQuota({} as Pick<StorageManager, 'estimate'>)).toBeUndefined();
  });

  it('Chrome\'s masked estimate (usage + exactly 10 GiB, not the enforced quota) is no quota: the budget is the fixed fallback', async () => {
    const masked = (usage: number) => ({ estimate: async () => ({ usage, quota: usage + 10 * 1024 ** 3 }) });
    expect(await storageQuota(masked(7e10))).toBeUndefined();
    expect(await storageQuota(masked(0))).toBeUndefined();
    expect(await storageQuota({ estimate: async () => ({ usage: 7e10, quota: 5e11 }) })).toBe(5e11);
    expect(retentionBudget(defaultTrainConfig(), await storageQuota(masked(7e10))).source).toMatch(/fixed 150 GB/);
  });

  it('the API\'s dry run lists what would go and why each kept one stays, deleting nothing; the manual delete names the rules', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 1024);
    await db.models.put({ id: 'm', name: 'M', active: 1, lineage: [], step: 40, trained: true, createdAt: 0 } as unknown as ModelRow);
    const ids: string[] = [];
    const now = Date.now();
    for (const [k, step] of [10, 20, 30, 40].entries()) {
      const r = await store.write({
        modelId: 'm', step, trainerState: {}, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '', reason: 'interval',
        tensors: [{ name: 'w', dtype: 'float32', shape: [250], data: new Float32Array(250) }],
      });
      if (!r.saved) throw new Error('not saved');
      ids.push(r.id);
      await db.checkpoints.update(r.id, { createdAt: now - [300, 200, 10, 0][k] * H }); // older ones past the 7 daily days
    }
    // Quota 3 kB: half of it is a 1.5 kB budget for four 1 kB checkpoints.
    const api = createWorkbenchApi({ db, validate: () => undefined, storage: storage(3000) });
    const plan = await api.retentionPreview();
    expect(plan?.modelId).toBe('m');
    expect(plan?.budgetSource).toBe('50% of the 2.9 KB storage quota');
    expect(plan?.budgetBytes).toBe(1500);
    expect(plan?.delete.map((d) => [d.id, d.step, d.bytes])).toEqual([[ids[0], 10, 1000], [ids[1], 20, 1000]]);
    expect(plan?.delete[0].why).toMatch(/took 3\.9 KB, over the 1\.5 KB budget.*older than 36 hours/);
    expect(plan?.keep.map((k) => k.step)).toEqual([40, 30]);
    expect(plan?.keep[0].reasons[0]).toBe('the latest checkpoint of the model');
    expect(plan?.keep[1].reasons).toContain('younger than 36 hours');
    expect(await store.list('m')).toHaveLength(4); // a dry run

    // The policy follows the config.
    expect((await api.setConfig({ retentionMinAgeHours: 250 })).ok).toBe(true);
    const longer = await api.retentionPreview('m');
    expect(longer?.delete.map((d) => d.step)).toEqual([10]);
    expect(longer?.keep.find((k) => k.step === 20)?.reasons).toEqual(['younger than 250 hours']);
    const manual = await api.planCheckpointDeletion(ids[1]);
    expect(manual.allowed).toBe(true);
    expect(manual.message).toMatch(/Automatic retention would keep it: younger than 250 hours\./);
    expect((await api.planCheckpointDeletion(ids[0])).message).not.toMatch(/Automatic retention/);

    // The resume point is refused by the manual delete and kept by retention.
    await db.models.update('m', { resumeFrom: ids[0] });
    expect((await api.planCheckpointDeletion(ids[0])).allowed).toBe(false);
    expect((await api.retentionPreview('m'))?.keep.find((k) => k.id === ids[0])?.reasons).toEqual(['training will resume from it']);
    expect(await createWorkbenchApi({ db: freshDb(), validate: () => undefined }).retentionPreview()).toBeNull();
  });
});
