/**
 * The GPU benchmark, run as one esbuild bundle in Node (bench/gpu-bundle.ts builds it; `npm run bench:gpu`): trains
 * Qwen3-0.6B's real shape (random weights) composed and fused, full and LoRA, on TF.js's webgpu backend over Dawn (the
 * `webgpu` npm package: navigator.gpu is set before the backend is imported, since it registers at import), and prints
 * ONE JSON line: the adapter, per variant tokens/s, achieved TFLOP/s (analytic matmul FLOPs, flopsPerStep), peak GPU
 * bytes, dispatches per step (gpu-counters.ts), and max |logits − cpu| of the same weights on a small input.
 * `--backend wasm` runs the same bundle end to end on the CPU: a smoke run, on a smaller shape (--preset tiny, or the
 * 0.6B width with --layers / --vocab), since the wasm heap cannot hold the 0.6B (capacity.ts). Progress goes to stderr.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Qwen3Model, parameterShapes, singleSequence, type HfTensor } from '../src/engine/model.ts';
import { presetConfig } from '../src/engine/config/model-config.ts';
import { parseTrainConfig, type TrainConfig } from '../src/engine/config/train-config.ts';
import { runJob } from '../src/engine/train.ts';
import { fusedKernelsActive } from '../src/engine/kernels/switch.ts';
import { instrumentDevice, type GpuCounter } from '../src/engine/gpu-counters.ts';
import { Rng } from '../src/engine/rng.ts';
import { CliError, flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import type { ExampleSource, ModelConfig, TokenizedExample } from '../src/engine/types.ts';

// ---------------------------------------------------------------- options

const VARIANTS = ['composed-lora', 'fused-lora', 'composed-full', 'fused-full'] as const;
type Variant = (typeof VARIANTS)[number];

interface Options {
  backend: 'webgpu' | 'wasm' | 'cpu';
  /** Model shape: qwen3-0.6b (default, the real config), or tiny / small for smoke runs; --layers / --vocab override. */
  preset: string;
  layers?: number;
  vocab?: number;
  batch: number;
  seq: number;
  /** Micro-batches per optimizer step (the 0.6B preset trains 1 × 16; a step here is one micro-batch by default). */
  accum: number;
  warmup: number;
  steps: number;
  variants: Variant[];
  checkpointing: boolean;
  checkTokens: number;
  /** Skip the variants that would start after this many seconds (the GPU box's time is short). */
  budgetS: number;
  /** The `webgpu` package's entry (index.js); default: resolved as the module `webgpu`. */
  webgpuModule?: string;
  /** Options for the Dawn instance (`create(...)`), e.g. backend=vulkan. */
  dawn: string[];
  wasmDir?: string;
}

function options(argv: string[]): Options {
  const a = parseArgs(argv, ['backend', 'preset', 'layers', 'vocab', 'batch', 'seq', 'accum', 'warmup', 'steps', 'variants', 'checkpointing', 'check-tokens', 'budget-s', 'webgpu-module', 'dawn', 'wasm-dir']);
  const backend = flag(a, 'backend') ?? 'webgpu';
  if (backend !== 'webgpu' && backend !== 'wasm' && backend !== 'cpu') throw new CliError(`--backend must be webgpu, wasm or cpu, got ${backend}`, 2);
  const variants = (flag(a, 'variants') ?? VARIANTS.join(',')).split(',') as Variant[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new CliError(`--variants: each one of ${VARIANTS.join(', ')}; got ${v}`, 2);
  const ck = flag(a, 'checkpointing') ?? 'on';
  if (ck !== 'on' && ck !== 'off') throw new CliError('--checkpointing: on (the qwen3-0.6b preset\'s default) or off', 2);
  const preset = flag(a, 'preset') ?? 'qwen3-0.6b';
  presetConfig(preset); // unknown names fail here, listing the valid ones
  return {
    backend,
    preset,
    layers: numberFlag(a, 'layers', { integer: true, min: 1 }),
    vocab: numberFlag(a, 'vocab', { integer: true, min: 16 }),
    batch: numberFlag(a, 'batch', { integer: true, min: 1 }) ?? 4,
    seq: numberFlag(a, 'seq', { integer: true, min: 16 }) ?? 512,
    accum: numberFlag(a, 'accum', { integer: true, min: 1 }) ?? 1,
    warmup: numberFlag(a, 'warmup', { integer: true, min: 1 }) ?? 2,
    steps: numberFlag(a, 'steps', { integer: true, min: 1 }) ?? 3,
    variants,
    checkpointing: ck === 'on',
    checkTokens: numberFlag(a, 'check-tokens', { integer: true, min: 1 }) ?? 8,
    budgetS: numberFlag(a, 'budget-s', { min: 1 }) ?? 420,
    webgpuModule: flag(a, 'webgpu-module'),
    dawn: a.flags.get('dawn') ?? [],
    wasmDir: flag(a, 'wasm-dir'),
  };
}

const log = (m: string) => process.stderr.write(`[bench:gpu] ${m}\n`);

// ---------------------------------------------------------------- backends

interface AdapterSummary {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}

/** A benchmark failure that still ends in the one JSON line (with `error` and what is known). */
class BenchFailure extends Error {
  constructor(message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Dawn for Node: the `webgpu` package, from --webgpu-module or as an installed module. */
async function loadDawn(path?: string): Promise<DawnModule> {
  try {
    const spec = path ? pathToFileURL(resolve(path)).href : 'webgpu';
    return (await import(/* @vite-ignore */ spec)) as DawnModule;
  } catch (e) {
    throw new BenchFailure(
      `the "webgpu" package (Dawn for Node) did not load: ${(e as Error).message}. Install it (npm install --no-save webgpu@0.6.2) or pass --webgpu-module <path to its index.js>`,
    );
  }
}

/** Starts the backend; for webgpu, sets navigator.gpu from Dawn first and imports TF.js's webgpu backend after. */
async function startBackend(o: Options): Promise<{ adapter: AdapterSummary | null; limits?: Record<string, number> }> {
  if (o.backend === 'webgpu') {
    const dawn = await loadDawn(o.webgpuModule);
    Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode, GPUShaderStage, … as in a browser
    const gpu = dawn.create(o.dawn);
    const nav = (globalThis as { navigator?: object }).navigator ?? {};
    Object.defineProperty(globalThis, 'navigator', { value: Object.assign(Object.create(nav), { gpu }), configurable: true, writable: true });
    const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as (GPUAdapter & { info?: GPUAdapterInfo }) | null;
    if (!adapter) {
      throw new BenchFailure('no WebGPU adapter: Dawn found no usable Vulkan device (is a Vulkan ICD for the GPU installed and VK_ICD_FILENAMES / VK_DRIVER_FILES pointing at it?)', {
        vk_icd_filenames: process.env.VK_ICD_FILENAMES ?? null, vk_driver_files: process.env.VK_DRIVER_FILES ?? null, ld_library_path: process.env.LD_LIBRARY_PATH ?? null,
      });
    }
    const i = adapter.info;
    const summary: AdapterSummary = { vendor: i?.vendor, architecture: i?.architecture, device: i?.device, description: i?.description };
    const limits = { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
    log(`adapter: ${JSON.stringify(summary)} ${JSON.stringify(limits)}`);
    await import('@tensorflow/tfjs-backend-webgpu'); // registers 'webgpu' now that navigator.gpu exists
    if (!(await tf.setBackend('webgpu')) || tf.getBackend() !== 'webgpu') throw new BenchFailure(`TF.js's webgpu backend did not start (got ${tf.getBackend()})`, { adapter: summary });
    await tf.ready();
    return { adapter: summary, limits };
  }
  if (o.backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(o.wasmDir ?? wasmDir());
  }
  if (!(await tf.setBackend(o.backend)) || tf.getBackend() !== o.backend) throw new BenchFailure(`the ${o.backend} backend did not start`);
  await tf.ready();
  return { adapter: null };
}

/** tfjs-backend-wasm's .wasm folder: beside this bundle (tfjs-wasm/) or in node_modules. */
function wasmDir(): string {
  const here = dirname(new URL(import.meta.url).pathname);
  if (existsSync(join(here, 'tfjs-wasm', 'tfjs-backend-wasm.wasm'))) return join(here, 'tfjs-wasm') + '/';
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
}

/** The webgpu backend's buffer pool (TF.js 4.22 internals): freed buffers stay allocated for reuse. */
interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
}

/** Destroys the pooled free buffers, so the next variant's high-water mark is its own. */
function trimGpuPool(): void {
  const pool = (tf.backend() as unknown as { bufferManager?: BufferPool }).bufferManager;
  if (!pool) return;
  for (const list of pool.freeBuffers.values()) {
    for (const b of list) {
      pool.numBytesAllocated -= b.size;
      b.destroy();
    }
    list.length = 0;
  }
  pool.numFreeBuffers = 0;
}

/** Bytes the webgpu backend holds on the GPU (in use plus pooled): a high-water mark, since the pool keeps them. */
const gpuBytes = (): number | null => {
  const m = tf.memory() as { numBytesAllocatedInGPU?: number };
  return m.numBytesAllocatedInGPU ?? null;
};

// ---------------------------------------------------------------- model, data, FLOPs

/**
 * Random weights of `config` in Hugging Face layout, one tensor at a time (fast uniform noise with HF's std 0.02 for
 * matrices, 1 for norms; a real 0.6B through Rng.normal would take ~20 s of a short GPU session), reproducible per seed.
 */
function* randomTensors(config: ModelConfig, seed: number): Generator<[string, HfTensor]> {
  const a = 0.02 * Math.sqrt(3); // uniform(−a, a) has std 0.02
  let k = 0;
  for (const [name, shape] of parameterShapes(config)) {
    const data = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (shape.length === 2) {
      let s = (new Rng(seed).state ^ Math.imul(++k, 0x9e3779b1)) >>> 0 || 1;
      for (let i = 0; i < data.length; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        data[i] = ((s >>> 0) / 4294967296 * 2 - 1) * a;
      }
    } else data.fill(1);
    yield [name, { shape, data }];
  }
}

const buildModel = (config: ModelConfig, seed: number) => Qwen3Model.fromTensorStream(config, randomTensors(config, seed));

/** `batch` random sequences of `seq` tokens, every token after the first a target. */
function randomSource(batch: number, seq: number, vocab: number): ExampleSource {
  const rng = new Rng(7);
  const ex: TokenizedExample[] = Array.from({ length: batch }, () => ({
    ids: Int32Array.from({ length: seq }, () => rng.int(0, vocab - 1)),
    trainMask: new Uint8Array(seq).fill(1),
  }));
  return { size: ex.length, get: (i) => ex[i] };
}

/**
 * Matrix-multiply FLOPs of one optimizer step (2 per multiply-add), as the engine computes them: forward = linears
 * (2·tokens·params) + LM head (2·tokens·H·V) + attention scores and values over the full T×T (4·B·nh·hd·T² per layer);
 * full fine-tuning: backward = 2 × forward; LoRA (frozen base and head): backward = the input gradients only
 * (1 × forward) for the linears and the head, 2 × for attention; gradient checkpointing adds one forward of the
 * layers. LoRA's own rank-r products and the elementwise work are not counted.
 */
export function flopsPerStep(c: ModelConfig, batch: number, seq: number, lora: boolean, checkpointing: boolean): number {
  const H = c.hiddenSize, q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim;
  const perLayer = H * q + 2 * H * kv + q * H + 3 * H * c.intermediateSize;
  const tokens = batch * seq;
  const linears = 2 * tokens * perLayer * c.numHiddenLayers;
  const head = 2 * tokens * H * c.vocabSize;
  const attention = 4 * batch * c.numAttentionHeads * c.headDim * seq * seq * c.numHiddenLayers;
  const backward = lora ? linears + head + 2 * attention : 2 * (linears + head + attention);
  return linears + head + attention + backward + (checkpointing ? linears + attention : 0);
}

// ---------------------------------------------------------------- the runs

interface RunResult {
  variant: Variant;
  fused_active: boolean;
  tokens_per_s: number;
  ms_per_step: number;
  tflops: number;
  peak_gpu_bytes: number | null;
  peak_tensor_bytes: number;
  dispatches_per_step: number | null;
  buffers_created_per_step: number | null;
  submits_per_step: number | null;
  readback_bytes_per_step: number | null;
  loss_first: number;
  loss_last: number;
  warmup_s: number;
}

async function runVariant(o: Options, mc: ModelConfig, variant: Variant, counter: GpuCounter | null): Promise<RunResult> {
  const fused = variant.startsWith('fused');
  const lora = variant.endsWith('lora');
  trimGpuPool();
  const model = await buildModel(mc, 1);
  const total = o.warmup + o.steps;
  const config: TrainConfig = parseTrainConfig(
    {
      batchSize: o.batch, gradAccumSteps: o.accum, maxLength: o.seq, fusedKernels: fused, gradientCheckpointing: o.checkpointing, logEvery: o.steps,
      saveSteps: 0, evalSteps: 0, warmupSteps: 0, lora: { enabled: lora, dropout: 0 },
    },
    'qwen3-0.6b',
  );
  let lossFirst = NaN, lossLast = NaN, fusedActive = false, peakTensor = 0;
  let counts = counter?.counts();
  const t0 = performance.now();
  let tWindow = t0, tEnd = t0;
  const result = await runJob(
    { model, source: randomSource(o.batch * o.accum, o.seq, mc.vocabSize), config, padTokenId: 0, steps: total, nonFiniteBaseline: new Map() },
    {
      beforeStep(s) {
        if (s.fileStep === o.warmup) {
          counter?.reset();
          tWindow = performance.now();
        }
        return 'continue';
      },
      onStep(m) {
        fusedActive = fusedKernelsActive();
        peakTensor = Math.max(peakTensor, tf.memory().numBytes);
        if (m.fileStep === total) {
          counts = counter?.counts(); // after the window's one read of the metrics
          tEnd = performance.now();
        }
        if (m.fileStep === 1) log(`${variant}: first step done after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      },
      onLog(m) {
        if (m.fileStep === 1) lossFirst = m.loss;
        if (m.fileStep === total) lossLast = m.loss;
      },
    },
  );
  const peakGpu = gpuBytes();
  result.optimizer.dispose();
  result.lora?.dispose();
  model.dispose();
  const ms = (tEnd - tWindow) / o.steps;
  const per = (n: number | undefined) => (counter && n !== undefined ? Math.round((n / o.steps) * 100) / 100 : null);
  return {
    variant, fused_active: fusedActive,
    tokens_per_s: Math.round((o.batch * o.accum * o.seq * 1000) / ms), ms_per_step: Math.round(ms),
    tflops: Math.round((o.accum * flopsPerStep(mc, o.batch, o.seq, lora, o.checkpointing) / (ms / 1000) / 1e12) * 1000) / 1000,
    peak_gpu_bytes: peakGpu, peak_tensor_bytes: peakTensor,
    dispatches_per_step: per(counts?.dispatches), buffers_created_per_step: per(counts?.buffersCreated),
    submits_per_step: per(counts?.submits), readback_bytes_per_step: per(counts?.readbackBytes),
    loss_first: lossFirst, loss_last: lossLast, warmup_s: Math.round((tWindow - t0) / 100) / 10,
  };
}

/** Max |logits − cpu| for the same weights on `tokens` fixed token ids (the cpu backend is the reference). */
async function logitsCheck(o: Options, mc: ModelConfig): Promise<Record<string, number>> {
  const ids = Array.from({ length: o.checkTokens }, (_, i) => (i * 7919 + 13) % mc.vocabSize);
  const logitsOn = async (backend: string) => {
    await tf.setBackend(backend);
    const model = await buildModel(mc, 1);
    const x = singleSequence(ids);
    const t = model.logits(x);
    const data = (await t.data()) as Float32Array;
    tf.dispose([t, x.inputIds, x.positionIds, x.segmentIds]);
    model.dispose();
    return data;
  };
  const t0 = performance.now();
  const ref = await logitsOn('cpu');
  const got = await logitsOn(o.backend);
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return { tokens: o.checkTokens, max_abs_diff: diff, max_abs_logit: scale, seconds: Math.round((performance.now() - t0) / 100) / 10 };
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log = console.error; // stdout carries the one JSON line only
  const line: Record<string, unknown> = { bench: 'gpu', date: new Date().toISOString() };
  let code = 0;
  try {
    const o = options(process.argv.slice(2));
    const mc: ModelConfig = { ...presetConfig(o.preset), torchDtype: 'float32' };
    if (o.layers) mc.numHiddenLayers = o.layers;
    if (o.vocab) mc.vocabSize = o.vocab;
    Object.assign(line, {
      backend: o.backend, node: process.version,
      model: { preset: o.preset, layers: mc.numHiddenLayers, hidden: mc.hiddenSize, heads: mc.numAttentionHeads, kv_heads: mc.numKeyValueHeads, head_dim: mc.headDim, intermediate: mc.intermediateSize, vocab: mc.vocabSize },
      batch: o.batch, seq: o.seq, accum: o.accum, warmup: o.warmup, steps: o.steps, gradient_checkpointing: o.checkpointing,
    });
    // What scripts/gpu-box/run.sh found on the box (absent elsewhere).
    if (process.env.GPU_KIT_ICD_USED) line.kit = { icd: process.env.GPU_KIT_ICD_USED, libs_added: process.env.GPU_KIT_LIBS, driver: process.env.GPU_KIT_DRIVER };
    const { adapter, limits } = await startBackend(o);
    line.adapter = adapter;
    if (limits) line.adapter_limits = limits;
    const counter = o.backend === 'webgpu' ? instrumentDevice((tf.backend() as unknown as { device: GPUDevice }).device) : null;
    log(`logits check on ${o.checkTokens} tokens (cpu reference)…`);
    line.logits_check = await logitsCheck(o, mc);
    await tf.setBackend(o.backend);
    log(`logits check: ${JSON.stringify(line.logits_check)}`);
    const runs: (RunResult | { variant: Variant; skipped?: string; error?: string })[] = [];
    for (const v of o.variants) {
      if ((Date.now() - started) / 1000 > o.budgetS) {
        runs.push({ variant: v, skipped: `time budget of ${o.budgetS} s spent` });
        continue;
      }
      try {
        const r = await runVariant(o, mc, v, counter);
        log(JSON.stringify(r));
        runs.push(r);
      } catch (e) {
        log(`${v}: ${(e as Error).stack ?? e}`);
        runs.push({ variant: v, error: (e as Error).message });
        code = 1;
      }
    }
    line.runs = runs;
  } catch (e) {
    line.error = (e as Error).message;
    if (e instanceof BenchFailure) Object.assign(line, e.details);
    code = e instanceof CliError ? e.exitCode : 2;
  }
  line.wall_s = Math.round((Date.now() - started) / 100) / 10;
  process.stdout.write(JSON.stringify(line) + '\n', () => process.exit(code)); // exit: Dawn's instance would keep Node alive
}

// Run when this file (or the bundle made of it) is the program, not when a test imports flopsPerStep.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void main();
