// Turns the config editor's text inputs into typed values using the engine's schema metadata (TRAIN_CONFIG_FIELDS):
// parse, check the range, and say in one sentence what is allowed. Pure, no DOM.
import type { FieldMeta } from '../../engine/config/train-config.ts';

export type FormValue = number | boolean | string | string[];
export type FieldCheck = { ok: true; value: FormValue } | { ok: false; message: string };

/** What the field accepts, in words ("an integer in [1, 128]"). */
export function allowedRange(m: FieldMeta): string {
  if (m.options) return m.type === 'string[]' ? `a comma-separated list of ${m.options.join(', ')}` : `one of ${m.options.join(', ')}`;
  if (m.min !== undefined && m.max !== undefined) return `${m.type === 'int' ? 'an integer' : 'a number'} in [${m.min}, ${m.max}]`;
  if (m.type === 'bool') return 'on or off';
  return 'a non-empty text';
}

/** Checks the raw input of one field against its metadata. */
export function checkFieldInput(m: FieldMeta, raw: string | boolean): FieldCheck {
  const bad = (): FieldCheck => ({ ok: false, message: `${m.key} must be ${allowedRange(m)}, got "${String(raw)}"` });
  switch (m.type) {
    case 'bool':
      return typeof raw === 'boolean' ? { ok: true, value: raw } : bad();
    case 'int':
    case 'float': {
      const s = String(raw).trim();
      if (s === '') return bad();
      const v = Number(s);
      if (!Number.isFinite(v) || (m.type === 'int' && !Number.isInteger(v))) return bad();
      if ((m.min !== undefined && v < m.min) || (m.max !== undefined && v > m.max)) return bad();
      return { ok: true, value: v };
    }
    case 'enum':
      return m.options?.includes(String(raw)) ? { ok: true, value: String(raw) } : bad();
    case 'string':
      return String(raw).trim() ? { ok: true, value: String(raw).trim() } : bad();
    case 'string[]': {
      const parts = String(raw).split(',').map((x) => x.trim()).filter(Boolean);
      if (parts.length === 0 || !parts.every((p) => m.options?.includes(p))) return bad();
      return { ok: true, value: [...new Set(parts)] };
    }
  }
}

/** The input text of a stored value (lists joined with ", "). */
export function displayValue(v: unknown): string {
  return Array.isArray(v) ? v.join(', ') : v == null ? '' : String(v);
}

/** Why a locked field cannot change for a model, or undefined when it can. */
export function lockReason(m: FieldMeta, model: { name: string; trained: boolean } | undefined): string | undefined {
  if (!m.locked || !model?.trained) return undefined;
  return `locked: ${model.name} has been trained with it (it defines the model); import or pick another base model to change it`;
}
