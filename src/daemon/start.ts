/**
 * Page-side start of the workbench: opens the store, asks for persistent storage, starts the validator worker
 * and the supervised trainer worker, and returns the API the UI calls (which resumes validations a reload interrupted).
 * Browser only (Web Workers); the parts it wires are tested in Node one by one.
 */
import * as Comlink from 'comlink';
import { getDb, type WorkbenchDb } from '../store/db.ts';
import { createWorkbenchApi, requestPersistentStorage, type WorkbenchApi } from './api.ts';
import { Supervisor } from './supervisor.ts';
import type { BundledModel } from './loop.ts';
import type { TrainerRole, TrainerWorkerApi } from '../workers/trainer.worker.ts';
import type { ValidatorWorkerApi } from '../workers/validator.worker.ts';

export const BUNDLED_MODEL: BundledModel = { id: 'qwen3-tiny', name: 'Qwen3 tiny (bundled)', ref: '/models/qwen3-tiny/' };

export interface StartOptions {
  /** `?backend=webgpu|webgl|wasm|cpu`; default: read from the page URL. */
  backend?: string | null;
  bundled?: BundledModel;
  /** Where the tfjs-backend-wasm binaries are served (vite.config.ts serves them at /tfjs-wasm/). */
  wasmPaths?: string;
  /** 'trainer' when this tab trains, 'waiting' while another tab holds the training lock (read-only view). */
  onRole?(role: TrainerRole): void;
  /** Fault-injection hooks for the test suite (`?test-hooks=1`): the trainer accepts them, `Workbench.supervisor` runs them. */
  testHooks?: boolean;
}

export interface Workbench {
  db: WorkbenchDb;
  api: WorkbenchApi;
  supervisor: Supervisor;
  persisted: boolean;
}

export async function startWorkbench(opts: StartOptions = {}): Promise<Workbench> {
  const db = getDb();
  await db.open();
  const persisted = await requestPersistentStorage().catch(() => false);
  const bundled = opts.bundled ?? BUNDLED_MODEL;
  const backend = opts.backend !== undefined ? opts.backend : new URLSearchParams(self.location?.search ?? '').get('backend');

  // Validator: one worker, items validated one after another.
  const vWorker = new Worker(new URL('../workers/validator.worker.ts', import.meta.url), { type: 'module', name: 'validator' });
  const validator = Comlink.wrap<ValidatorWorkerApi>(vWorker);
  let chain: Promise<void> = Promise.resolve();
  const validate = (ids: number[]) => {
    chain = chain.then(() => validator.validate(ids, bundled.ref)).catch((e: unknown) => console.error('[validator]', e));
  };

  const supervisor = new Supervisor({
    db,
    log: (m) => console.warn(`[supervisor] ${m}`),
    spawn: (fatal) => {
      const worker = new Worker(new URL('../workers/trainer.worker.ts', import.meta.url), { type: 'module', name: 'trainer' });
      worker.addEventListener('error', (e) => fatal(e.message || 'the trainer worker failed to load or crashed'));
      const remote = Comlink.wrap<TrainerWorkerApi>(worker);
      return {
        async start() {
          const onRole = (r: TrainerRole) => {
            supervisor.setRole(r);
            opts.onRole?.(r);
          };
          onRole(await remote.start({ backend, bundled, wasmPaths: opts.wasmPaths ?? '/tfjs-wasm/', testHooks: opts.testHooks }, Comlink.proxy(fatal), Comlink.proxy(onRole)));
        },
        terminate: () => worker.terminate(),
        poke: () => void remote.poke(),
        chat: (messages, o) => remote.chat(messages, { maxNewTokens: o.maxNewTokens, temperature: o.temperature }, o.onToken ? Comlink.proxy(o.onToken) : undefined),
        stopChat: () => void remote.stopChat(),
        test: (hook) => remote.test(hook),
      };
    },
  });

  const base = createWorkbenchApi({
    db,
    validate,
    poke: () => supervisor.poke(),
    chat: (messages, o) => supervisor.chat(messages, o),
    exportCheckpoint: (id, o) => validator.exportCheckpoint(id, o),
    exportJob: (o) => validator.exportJob(o, bundled.ref),
    importModel: (source, name) => validator.importModel(source, name),
    stopChat: () => supervisor.stopChat(),
    preview: {
      example: (itemId, index) => validator.previewExample(itemId, index, bundled.ref),
      regime3: (text) => validator.previewRegime3(text, bundled.ref),
    },
    fallbackTokenizerRef: bundled.ref,
    haltTrainer: () => supervisor.stop(),
  });
  const api: WorkbenchApi = {
    ...base,
    async resume(reason) {
      await base.resume(reason);
      if (supervisor.crashed) await supervisor.revive();
    },
  };

  await supervisor.start();
  return { db, api, supervisor, persisted };
}
