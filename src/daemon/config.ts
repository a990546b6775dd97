/**
 * The training config as the daemon and the UI see it: the person's overrides stored in settings over the
 * defaults of the active model's preset, checked by the engine's schema; fields that define the model are
 * locked once a model has been trained from it.
 */
import {
  TRAIN_CONFIG_FIELDS,
  parseTrainConfig,
  withoutRetiredKeys,
  presetForModel,
  defaultTrainConfig,
  type PresetName,
  type TrainConfig,
} from '../engine/config/train-config.ts';
import { ConfigError } from '../engine/errors.ts';
import { profileNames } from '../profiles/index.ts';
import type { ModelRow, WorkbenchDb } from '../store/db.ts';
import { formatSize, type RetentionPolicy } from '../store/retention.ts';
import { ModelRepo, SettingsRepo } from '../store/state.ts';
import { recordConfigChange } from './config-history.ts';

export const CONFIG_KEY = 'trainConfig';


/** The stored overrides without retired keys. */
async function storedOverrides(settings: SettingsRepo): Promise<Record<string, unknown>> {
  const saved = (await settings.get<Record<string, unknown>>(CONFIG_KEY)) ?? {};
  return withoutRetiredKeys(saved);
}

/** Bytes in a GB of the config and the page (2^30, as the page shows sizes). */
export const GB = 1024 ** 3;

/** Where the quota is unknown (Node: tests and the CLI have no navigator.storage): the old system's 150 GB. */
export const FALLBACK_RETENTION_BUDGET_BYTES = 150 * GB;

/** The size budget of one model's checkpoints, in bytes, and one sentence saying where it comes from. */
export function retentionBudget(cfg: Pick<TrainConfig, 'retentionBudgetGB' | 'retentionQuotaShare'>, quota: number | undefined): { bytes: number; source: string } {
  if (cfg.retentionBudgetGB > 0) return { bytes: Math.floor(cfg.retentionBudgetGB * GB), source: `retentionBudgetGB = ${cfg.retentionBudgetGB}` };
  if (quota !== undefined && quota > 0) {
    return { bytes: Math.floor(cfg.retentionQuotaShare * quota), source: `${Math.round(cfg.retentionQuotaShare * 100)}% of the ${formatSize(quota)} storage quota` };
  }
  return { bytes: FALLBACK_RETENTION_BUDGET_BYTES, source: 'a fixed 150 GB: this browser does not report its storage quota' };
}

/** The retention policy of a config, with the budget from the quota when the config does not fix one. */
export function retentionPolicy(cfg: Pick<TrainConfig, 'retentionMinAgeHours' | 'retentionDailyDays' | 'retentionBudgetGB' | 'retentionQuotaShare'>, quota: number | undefined): RetentionPolicy {
  return { minAgeHours: cfg.retentionMinAgeHours, dailyDays: cfg.retentionDailyDays, budgetBytes: retentionBudget(cfg, quota).bytes };
}

/**
 * What Chromium's estimate() reports as the quota since Chrome 138 (against fingerprinting): usage + exactly 10 GiB,
 * whatever quota it enforces (measured in Debian's Chromium here). A share of that is no budget, so it counts as unknown.
 */
const MASKED_QUOTA_HEADROOM = 10 * GB;

/**
 * This origin's storage quota in bytes (navigator.storage.estimate(), in the page or a worker); undefined where
 * unknown, including Chrome's masked figure (usage + 10 GiB), which says nothing about the space there is.
 */
export async function storageQuota(storage?: Pick<StorageManager, 'estimate'>): Promise<number | undefined> {
  const s = storage ?? (typeof navigator !== 'undefined' ? navigator.storage : undefined);
  const e = await s?.estimate?.().catch(() => undefined);
  if (e?.quota === undefined || e.quota <= 0) return undefined;
  return e.quota - (e.usage ?? 0) === MASKED_QUOTA_HEADROOM ? undefined : e.quota;
}

export type FlatConfig = Record<string, number | string | boolean | string[]>;
export interface ConfigUpdate {
  ok: boolean;
  errors: { field: string; message: string }[];
  config: TrainConfig;
}

/** Preset whose defaults apply to a model: the engine's presetForModel (by shape, whatever the model is called). */
export function presetFor(model: Pick<ModelRow, 'config'> | undefined): PresetName {
  return presetForModel(model?.config);
}

/** Dotted keys (`lora.rank`) ↔ nested objects. */
export function flatten(cfg: TrainConfig): FlatConfig {
  const out: FlatConfig = {};
  const rec = cfg as unknown as Record<string, unknown>;
  for (const m of TRAIN_CONFIG_FIELDS) {
    const [a, b] = m.key.split('.');
    const v = b === undefined ? rec[a] : (rec[a] as Record<string, unknown>)[b];
    out[m.key] = v as FlatConfig[string];
  }
  return out;
}

function nest(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    const [a, b] = k.split('.');
    if (b === undefined) out[a] = v;
    else ((out[a] ??= {}) as Record<string, unknown>)[b] = v;
  }
  return out;
}

export async function loadTrainConfig(db: WorkbenchDb): Promise<TrainConfig> {
  const model = await new ModelRepo(db).active();
  const saved = await storedOverrides(new SettingsRepo(db));
  return parseTrainConfig(nest(saved), presetFor(model));
}

/**
 * Applies a patch of dotted keys. Every field is checked; a locked field cannot change once the active model
 * has been trained. Nothing is stored unless the whole patch is valid.
 */
export async function updateTrainConfig(db: WorkbenchDb, patch: Record<string, unknown>, by = 'person'): Promise<ConfigUpdate> {
  const model = await new ModelRepo(db).active();
  const settings = new SettingsRepo(db);
  const saved = await storedOverrides(settings);
  const current = parseTrainConfig(nest(saved), presetFor(model));
  const currentFlat = flatten(current);
  const errors: { field: string; message: string }[] = [];
  const known = new Map(TRAIN_CONFIG_FIELDS.map((m) => [m.key, m]));
  for (const [k, v] of Object.entries(patch)) {
    const meta = known.get(k);
    if (!meta) {
      errors.push({ field: k, message: `unknown config field "${k}"` });
      continue;
    }
    if (meta.locked && model?.trained && JSON.stringify(v) !== JSON.stringify(currentFlat[k])) {
      errors.push({ field: k, message: `"${k}" is locked: model "${model.name}" has been trained with ${JSON.stringify(currentFlat[k])} (it defines the model)` });
    }
  }
  if (typeof patch.profile === 'string' && !profileNames.includes(patch.profile)) {
    errors.push({ field: 'profile', message: `unknown profile "${patch.profile}"; expected one of: ${profileNames.join(', ')}` });
  }
  const merged = { ...saved, ...patch };
  let config = current;
  if (errors.length === 0) {
    try {
      config = parseTrainConfig(nest(merged), presetFor(model));
    } catch (e) {
      if (e instanceof ConfigError) errors.push({ field: e.field, message: e.message });
      else throw e;
    }
  }
  if (errors.length > 0) return { ok: false, errors, config: current };
  await settings.set(CONFIG_KEY, merged);
  const preset = presetFor(model); // the change goes to the model's config history (config-history.ts)
  await recordConfigChange(db, model?.id ?? '', { by, before: currentFlat, after: flatten(config) }, { name: preset, generic: flatten(defaultTrainConfig()), defaults: flatten(defaultTrainConfig(preset)) });
  return { ok: true, errors: [], config };
}
