/**
 * The trainer Web Worker (comlink entry point; wiring only): takes the cross-tab training lock (Web Locks, a
 * waiting request so a reloaded tab gets it back), picks the TF.js backend, and runs the daemon's training loop.
 */
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { describeWasmBuild, initBackend } from '../engine/backend.ts';
import { backendChain, wasmThreadCount } from '../daemon/backend-choice.ts';
import { getDb } from '../store/db.ts';
import { SettingsRepo } from '../store/state.ts';
import { TrainingLoop, type BundledModel } from '../daemon/loop.ts';
import type { FaultPhase, FaultPoint } from '../daemon/file-run.ts';
import { folderFor } from '../daemon/folders.ts';
import { BACKEND_SETTING } from '../daemon/api.ts';
import { FRESH_BACKEND } from '../daemon/failures.ts';
import type { ChatMessage } from '../engine/types.ts';

export const TRAINER_LOCK = 'training-workbench-trainer';
/** How often the trainer stores tf.memory() for the health panel. */
const MEMORY_SAMPLE_MS = 5000;

export interface TrainerStartOptions {
  /** `?backend=` from the page, overriding the setting. */
  backend?: string | null;
  bundled: BundledModel;
  /** URL folder of tfjs-backend-wasm's .wasm files. */
  wasmPaths: string;
  /** Fault-injection hooks for the test suite (`?test-hooks=1`); off in normal use. */
  testHooks?: boolean;
}

/**
 * What the fault-injection suite can do to a running trainer (only when started with testHooks): lose the GPU
 * device; make the next steps non-finite; or stop inside the next `phase` (after `skip` more of them; a checkpoint
 * write once `tensors` of its tensors were handed to the store, 'all' between its last chunk and its manifest,
 * 'committed' after the manifest and before the file's progress) and stay there: 'hold' until the page reloads or
 * kills it, 'crash' asks the supervisor to terminate it now, as a crash does.
 */
export type TrainerTestHook =
  | { kind: 'lose-device' }
  | { kind: 'non-finite'; steps: number }
  | { kind: 'stop-at'; phase: FaultPhase; skip?: number; tensors?: number | 'all' | 'committed'; then: 'hold' | 'crash' };
/** Where a `stop-at` hook stopped the trainer (test() resolves with it once the trainer is there). */
export type FaultArrival = FaultPoint;
export type TrainerRole = 'trainer' | 'waiting';

let loop: TrainingLoop | null = null;
let gpuDevice: GPUDevice | null = null;
let hooksOn = false;
/** An armed `stop-at` hook (test hooks only). */
let stopAt: { hook: Extract<TrainerTestHook, { kind: 'stop-at' }>; skip: number; arrived(at: FaultArrival): void } | null = null;
let chatAbort: AbortController | null = null;
let holdsLock = false;
let loopCreated!: (l: TrainingLoop) => void;
const loopReady = new Promise<TrainingLoop>((resolve) => (loopCreated = resolve));

async function runAsTrainer(opts: TrainerStartOptions, fatal: (message: string) => void): Promise<void> {
  const db = getDb();
  const choice = opts.backend ?? (await new SettingsRepo(db).get<string>(BACKEND_SETTING)) ?? null;
  const wasmThreads = wasmThreadCount(self.navigator.hardwareConcurrency);
  const chosen = await initBackend(backendChain(choice), { wasmPaths: opts.wasmPaths, allowFallbackAdapter: choice === 'webgpu', wasmThreads });
  const adapter = chosen.adapterInfo?.description || chosen.adapterInfo?.device || chosen.adapterInfo?.vendor;
  // The device's buffer limits (TF.js requests the adapter's), for the preflight of each file.
  const device = chosen.name === 'webgpu' ? (tf.backend() as unknown as { device?: GPUDevice }).device : undefined;
  gpuDevice = device ?? null;
  loop = new TrainingLoop({
    db,
    folder: (ref) => folderFor(db, ref),
    bundled: opts.bundled,
    backend: {
      // `wasm · threaded SIMD · 2 threads` (the build and threads TF.js really runs), `webgpu (adapter)`.
      name: chosen.wasm ? describeWasmBuild(chosen.wasm) : adapter ? `${chosen.name} (${adapter})` : chosen.name,
      reason: chosen.reason,
      adapterInfo: chosen.adapterInfo,
      limits: device && { maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize, maxBufferSize: device.limits.maxBufferSize },
    },
    log: (m) => console.warn(`[trainer] ${m}`),
    // Out of memory or a lost device leaves the backend unusable: the loop has paused; a fresh worker takes over.
    onFreshBackend: (reason) => fatal(`${FRESH_BACKEND} ${reason}`),
    // A step in flight when the device goes fails with its own error first: give GPUDevice.lost a moment to settle.
    deviceSettled: device && (() => Promise.race([device.lost.then(() => undefined), new Promise<void>((r) => setTimeout(r, 1000))])),
    faultPoint: hooksOn ? (at) => faultPoint(at, fatal) : undefined,
  });
  loopCreated(loop);
  // Tensors and GPU bytes held, for the health panel (written beside the heartbeat, never as one).
  setInterval(() => {
    const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    void db.daemon.update('state', { memory: { numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU, at: Date.now() } }).catch(() => undefined);
  }, MEMORY_SAMPLE_MS);
  // TF.js does not watch GPUDevice.lost: a lost device would hang the next read. Pause, then ask for a fresh trainer.
  device?.lost.then(async (info) => {
    const l = loop!;
    await l.deviceLost(`${info.reason}${info.message ? `: ${info.message}` : ''}`).catch((e: unknown) => console.error('[trainer]', e));
    fatal(`${FRESH_BACKEND} device_lost: the GPU device was lost (${info.reason})`);
  });
  await loop.recover();
  await loop.run(); // runs until the worker is terminated; a throw reaches the supervisor through start()'s catch
}

/** A fault point of the loop: stops here for good when the armed `stop-at` hook matches (test hooks only). */
async function faultPoint(at: FaultPoint, fatal: (message: string) => void): Promise<void> {
  const h = stopAt?.hook;
  if (!stopAt || !h || h.phase !== at.phase) return;
  if (at.phase === 'checkpoint-write') {
    const k = h.tensors ?? 0;
    // Once per checkpoint: at the k-th tensor, or before the manifest when it has fewer (or for 'all'), or after it.
    const here = k === 'committed' ? at.committed : k === 'all' ? at.last : !at.committed && (at.tensors === k || (at.last && (at.tensors ?? 0) < k));
    if (!here) return;
  }
  if (stopAt.skip-- > 0) return;
  const { arrived } = stopAt;
  stopAt = null;
  arrived(at);
  await new Promise((r) => setTimeout(r, 0)); // test()'s answer goes out first (the loop stays parked here meanwhile)
  const where = at.committed ? ' after its manifest' : at.last ? ' before its manifest' : at.tensors !== undefined ? ` after ${at.tensors} tensors` : '';
  if (h.then === 'crash') fatal(`killed by the fault suite inside ${at.phase} at step ${at.step}${where}`);
  await new Promise<never>(() => undefined); // stays inside the phase until the worker is terminated
}

const api = {
  /** Resolves with the role at once; training runs while this worker holds the lock. */
  async start(opts: TrainerStartOptions, fatal: (message: string) => void, onRole?: (role: TrainerRole) => void): Promise<TrainerRole> {
    const locks = (self.navigator as Navigator | undefined)?.locks;
    hooksOn = opts.testHooks === true;
    const run = () =>
      runAsTrainer(opts, fatal).catch((e: unknown) => {
        fatal(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      });
    if (!locks) {
      holdsLock = true;
      void run();
      return 'trainer';
    }
    const held = (await locks.query()).held?.some((l) => l.name === TRAINER_LOCK) ?? false;
    let granted!: () => void;
    const grant = new Promise<void>((resolve) => (granted = resolve));
    void locks.request(TRAINER_LOCK, async () => {
      holdsLock = true;
      granted();
      onRole?.('trainer');
      await run();
    });
    if (held) return 'waiting';
    // Free a moment ago: wait for the grant (another tab may still win the race; then this one waits).
    const won = await Promise.race([grant.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
    return won ? 'trainer' : 'waiting';
  },

  /** Nothing to do: the loop polls its controls and the queue; kept so the page can nudge a future push design. */
  poke(): void {},

  /** "Try it": answered at the next step boundary (or tick when idle); tokens stream through onToken. */
  async chat(messages: ChatMessage[], opts: { maxNewTokens?: number; temperature?: number }, onToken?: (textSoFar: string) => void): Promise<{ text: string; stopReason: string; ms: number }> {
    if (!holdsLock) throw new Error('this tab is not training (another tab holds the trainer): chat in the tab that trains');
    const l = loop ?? (await loopReady); // the model may still be loading
    chatAbort?.abort();
    chatAbort = new AbortController();
    const r = await l.chat({ messages, maxNewTokens: opts.maxNewTokens, temperature: opts.temperature, onToken, signal: chatAbort.signal });
    return { text: r.text, stopReason: r.stopReason, ms: r.ms };
  },

  stopChat(): void {
    chatAbort?.abort();
  },

  /** Fault injection for the test suite; refused unless the page was opened with test hooks. */
  async test(hook: TrainerTestHook): Promise<FaultArrival | void> {
    if (!hooksOn) throw new Error('test hooks are off (open the page with ?test-hooks=1)');
    if (hook.kind === 'stop-at') {
      if (stopAt) throw new Error(`a stop-at hook is already armed (${stopAt.hook.phase})`);
      return new Promise<FaultArrival>((arrived) => (stopAt = { hook, skip: hook.skip ?? 0, arrived }));
    }
    const l = loop ?? (await loopReady);
    if (hook.kind === 'non-finite') l.forceNonFinite(hook.steps);
    else if (!gpuDevice) throw new Error('lose-device needs the webgpu backend');
    else gpuDevice.destroy();
  },
};

export type TrainerWorkerApi = typeof api;
Comlink.expose(api);
