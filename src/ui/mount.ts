// Mounts the workbench page: opens the live state over the store, reads what the page knows about the adapter
// (WebGPU limits) for the memory panel, and renders App with the daemon's API.
import { mount } from 'svelte';
import type { WorkbenchApi } from '../daemon/api.ts';
import type { WorkbenchDb } from '../store/db.ts';
import App from './App.svelte';
import UpdatePrompt from './components/UpdatePrompt.svelte';
import type { AskFn } from './lib/chat.ts';
import { WorkbenchState } from './state/workbench.svelte.ts';
import './app.css';

/** Device memory assumed for the memory check when the browser cannot say (the training box's 24 GB card). */
export const DEFAULT_DEVICE_BYTES = 24 * 1024 ** 3;

interface GpuLike {
  requestAdapter(): Promise<{ limits: { maxStorageBufferBindingSize: number }; info?: { description?: string; device?: string; vendor?: string } } | null>;
}

async function adapterLimits(): Promise<{ maxStorageBufferBindingSize?: number; label: string }> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  try {
    const a = gpu ? await gpu.requestAdapter() : null;
    if (!a) return { label: 'assumed 24 GB card, no WebGPU adapter here' };
    const name = a.info?.description || a.info?.device || a.info?.vendor || 'WebGPU adapter';
    return { maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize, label: `assumed 24 GB card; ${name}` };
  } catch {
    return { label: 'assumed 24 GB card' };
  }
}

export async function mountWorkbench(target: HTMLElement, api: WorkbenchApi, db: WorkbenchDb, opts: { backendParamError?: string; backendOverride?: string; ask?: AskFn } = {}): Promise<WorkbenchState> {
  const state = new WorkbenchState(db, () => api.storageEstimate());
  state.start();
  const a = await adapterLimits();
  mount(App, {
    target,
    props: { api, state, db, ask: opts.ask, backendOverride: opts.backendOverride, startupNotice: opts.backendParamError ?? '', limits: { deviceBytes: DEFAULT_DEVICE_BYTES, deviceLabel: a.label, maxStorageBufferBindingSize: a.maxStorageBufferBindingSize } },
  });
  mount(UpdatePrompt, { target: document.body }); // a new build waiting, or offline ready (issue 16)
  return state;
}
