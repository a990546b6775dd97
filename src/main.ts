// Page entry: starts the workbench (store, validator worker, supervised trainer worker that takes the cross-tab
// training lock, the daemon's API; src/daemon/start.ts) and mounts the page on it.
import { BUNDLED_MODEL, startWorkbench } from './daemon/start.ts';
import { startServiceWorker } from './ui/lib/service-worker.svelte.ts';
import type { TrainerRole } from './workers/trainer.worker.ts';
import { backendFromSearch } from './ui/lib/backend-param.ts';
import { mountWorkbench } from './ui/mount.ts';
import { CheckpointStore } from './store/checkpoints.ts';
import type { WorkbenchState } from './ui/state/workbench.svelte.ts';
import type { AskFn } from './ui/lib/chat.ts';

// Offline after one visit (issue 16): the service worker caches the build and the bundled model.
startServiceWorker([BUNDLED_MODEL.ref]);
const param = backendFromSearch(location.search);
const testHooks = new URLSearchParams(location.search).get('test-hooks') === '1';
let state: WorkbenchState | undefined;
let role: TrainerRole = 'trainer';

const { api, db, supervisor } = await startWorkbench({
  backend: param.backend ?? null,
  testHooks,
  onRole(r) {
    role = r;
    state?.setRole(r);
  },
});

/** "Try it": the trainer worker answers at its next step boundary, streaming the text so far. */
const ask: AskFn = async (messages, onText, signal) => {
  const stop = () => api.stopChat();
  signal.addEventListener('abort', stop);
  try {
    const r = await api.chat(messages, { maxNewTokens: 96, onToken: onText });
    return r.stopReason === 'aborted' ? `${r.text} [stopped]` : r.text;
  } finally {
    signal.removeEventListener('abort', stop);
  }
};

// The fault-injection suite drives the trainer and reads the store (checkpoints through the product's reader) through this (only with ?test-hooks=1).
if (testHooks) (window as unknown as { __workbenchTest: unknown }).__workbenchTest = { supervisor, db, checkpoints: new CheckpointStore(db) };

state = await mountWorkbench(document.getElementById('app')!, api, db, { backendParamError: param.error, backendOverride: param.backend, ask });
state.setRole(role);
