// Reads the person's backend override from the page URL (`?backend=webgpu|webgl|wasm|cpu`); an unknown value is
// reported with the valid options instead of being silently ignored.
import { BACKEND_NAMES, type BackendName } from '../../engine/backend.ts';

export type BackendParam = { backend?: BackendName; error?: string };

export function backendFromSearch(search: string): BackendParam {
  const raw = new URLSearchParams(search).get('backend');
  if (raw == null || raw === '') return {};
  const v = raw.toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return { backend: v as BackendName };
  return { error: `?backend=${raw} is not a backend; expected one of: ${BACKEND_NAMES.join(', ')}` };
}
