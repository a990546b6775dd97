/**
 * The training config as the daemon and the UI see it: the person's overrides stored in settings over the
 * defaults of the active model's preset, checked by the engine's schema; fields that define the model are
 * locked once a model has been trained from it.
 */
import {
  TRAIN_CONFIG_FIELDS,
  parseTrainConfig,
  presetForModel,
  type PresetName,
  type TrainConfig,
} from '../engine/config/train-config.ts';
import { ConfigError } from '../engine/errors.ts';
import { profileNames } from '../profiles/index.ts';
import type { ModelRow, WorkbenchDb } from '../store/db.ts';
import { ModelRepo, SettingsRepo } from '../store/state.ts';

export const CONFIG_KEY = 'trainConfig';

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
  const saved = (await new SettingsRepo(db).get<Record<string, unknown>>(CONFIG_KEY)) ?? {};
  return parseTrainConfig(nest(saved), presetFor(model));
}

/**
 * Applies a patch of dotted keys. Every field is checked; a locked field cannot change once the active model
 * has been trained. Nothing is stored unless the whole patch is valid.
 */
export async function updateTrainConfig(db: WorkbenchDb, patch: Record<string, unknown>): Promise<ConfigUpdate> {
  const model = await new ModelRepo(db).active();
  const settings = new SettingsRepo(db);
  const saved = (await settings.get<Record<string, unknown>>(CONFIG_KEY)) ?? {};
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
  return { ok: true, errors: [], config };
}
