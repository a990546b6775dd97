// The engine's core checks, written once and run on every backend: golden logits of the reference fixtures,
// gradients against finite differences, skipped non-finite steps, exact resume, and no tensor growth. Each check is a
// named async function that throws one clear Error on failure; tests/unit/backend-matrix.test.ts runs them on cpu and
// wasm in Node, tests/e2e/backend-matrix.spec.ts on webgpu in Chromium. Engine modules and tfjs-core only.
import * as tf from '@tensorflow/tfjs-core';
import '../../src/engine/register-gradients.ts';
import { loadModel, type FolderReader } from '../../src/engine/checkpoint.ts';
import { readNpy } from '../../src/engine/npy.ts';
import { Qwen3Model, EMBED, LM_HEAD, singleSequence, type HfTensor } from '../../src/engine/model.ts';
import { lmHeadLoss } from '../../src/engine/loss.ts';
import { AdamW } from '../../src/engine/optimizer.ts';
import { LoraAdapter } from '../../src/engine/lora.ts';
import { readSnapshot, runJob, type JobResult, type LogMetrics, type SnapshotData, type TrainHooks, type TrainJob } from '../../src/engine/train.ts';
import type { TrainConfig } from '../../src/engine/config/train-config.ts';
import { TrainingError } from '../../src/engine/errors.ts';
import { scoreAnswerTokens, scoreAnswerTokensBatch } from '../../src/engine/eval-set.ts';
import { generate } from '../../src/engine/generate.ts';
import { greedyBatch } from '../../src/engine/generate-batch.ts';
import type { ExampleSource, ForwardInputs, TokenizedExample } from '../../src/engine/types.ts';
import {
  PAD, byteDifferences, bytesOfAll, maxAbsDiff, memoryCounts, showCounts, sourceOf, syntheticExamples,
  testConfig, tinyTrainConfig, trainingBytes, type MemoryCounts, type TrainingBytes,
} from './tiny-engine.ts';
import { CHECK_NAMES, type CheckName } from './check-names.ts';

export interface CheckContext {
  /** The qwen3-reference fixture folder (tests/fixtures/qwen3-reference), e.g. `read('tied-f32/ids.json')`. */
  fixtures: FolderReader;
}

export interface CoreCheck {
  /** What a failing cell reads like after the backend: "wasm › golden logits". */
  name: CheckName;
  run(ctx: CheckContext): Promise<void>;
}

// ---------------------------------------------------------------- assertions

/** A check's own finding (as opposed to an error the engine threw). */
class CheckFailure extends Error {}

function fail(message: string): never {
  throw new CheckFailure(`[${tf.getBackend()}] ${message}`);
}
function ensure(cond: boolean, message: () => string): asserts cond {
  if (!cond) fail(message());
}
function ensureSameCounts(what: string, want: MemoryCounts, got: MemoryCounts): void {
  ensure(got.numTensors === want.numTensors && got.numBytes === want.numBytes, () =>
    `${what}: tf.memory() went from ${showCounts(want)} to ${showCounts(got)} (${got.numTensors - want.numTensors} tensors, ${got.numBytes - want.numBytes} bytes)`);
}

// ---------------------------------------------------------------- shared setup

/** Vocabulary of the training checks; the last id is never drawn by syntheticExamples (a token to poison). */
const V = 64;
const modelConfig = testConfig({ vocabSize: V });
const newAdamW = (c: TrainConfig) => new AdamW({ beta1: c.beta1, beta2: c.beta2, eps: c.adamEps, weightDecay: c.weightDecay });
const LORA = { enabled: true, rank: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'v_proj', 'down_proj'] };

function disposeAll(...things: ({ dispose(): void } | undefined | null)[]): void {
  for (const t of things) t?.dispose();
}

/**
 * runJob, with an engine error turned into a failure that says which job it was and what its last log read (a grad
 * norm of NaN with a finite loss points at the norm, for instance). Failures of the hooks' own checks pass through.
 */
async function train(what: string, job: TrainJob, hooks: TrainHooks = {}): Promise<JobResult> {
  let last: LogMetrics | undefined;
  try {
    const onLog = async (m: LogMetrics) => {
      last = m;
      await hooks.onLog?.(m);
    };
    return await runJob(job, { ...hooks, onLog });
  } catch (e) {
    if (e instanceof CheckFailure) throw e;
    const log = last ? ` (last log: step ${last.step}, loss ${last.loss}, grad norm ${last.gradNorm}${last.skipped ? ', skipped' : ''})` : '';
    fail(`${what}: ${e instanceof Error ? e.message : String(e)}${log}`);
  }
}

/** The rejection of `p`, or fail when it resolves. */
async function rejection(p: Promise<unknown>, what: string): Promise<unknown> {
  let resolved = false;
  const err = await p.then(() => ((resolved = true), undefined), (e: unknown) => e);
  if (resolved) fail(`${what} completed; expected it to fail`);
  return err;
}

// ---------------------------------------------------------------- golden logits

async function required(folder: FolderReader, file: string): Promise<Uint8Array> {
  const b = await folder.read(file);
  if (!b) fail(`fixture file ${file} is missing`);
  return b;
}

/** Both reference models' logits equal the PyTorch reference's within 1e-4 at every position. */
export async function goldenLogits({ fixtures }: CheckContext): Promise<void> {
  for (const name of ['tied-f32', 'untied-bf16']) {
    const folder: FolderReader = { read: (f) => fixtures.read(`${name}/${f}`) };
    const model = await loadModel(folder);
    try {
      const ids = JSON.parse(new TextDecoder().decode(await required(folder, 'ids.json'))) as number[];
      const expected = readNpy(await required(folder, 'expected_logits.npy'), `${name}/expected_logits.npy`);
      const vocab = model.config.vocabSize;
      ensure(expected.shape.join() === `${ids.length},${vocab}`, () => `${name}: expected_logits.npy has shape [${expected.shape}], want [${ids.length}, ${vocab}]`);
      const x = singleSequence(ids);
      const l = model.logits(x);
      const got = new Float32Array(await l.data());
      tf.dispose([l, x.inputIds, x.positionIds, x.segmentIds]);
      const { max, at } = maxAbsDiff(got, expected.data);
      ensure(max <= 1e-4, () =>
        `${name}: logits differ from the reference by ${max} at position ${Math.floor(at / vocab)}, token ${at % vocab} (got ${got[at]}, reference ${expected.data[at]}); allowed 1e-4`);
    } finally {
      model.dispose();
    }
  }
}

// ---------------------------------------------------------------- gradients

function inputs(rows: number[][], pos: number[][], seg: number[][]): ForwardInputs {
  const B = rows.length, T = rows[0].length;
  return {
    inputIds: tf.tensor2d(rows.flat(), [B, T], 'int32'),
    positionIds: tf.tensor2d(pos.flat(), [B, T], 'int32'),
    segmentIds: tf.tensor2d(seg.flat(), [B, T], 'int32'),
  };
}

/**
 * The training loss's gradient (forward, chunked LM-head loss, backward: the trainer's path) agrees with central
 * finite differences, tied and untied, for the embedding, the head, linears and norms: along the gradient itself
 * (every entry at once) and at its largest entry. Weights are scaled up from HF's init (std 0.3, norms 1 ± 0.3) so
 * that every gradient matters; a packed row and a padded row; a repeated id (the embedding gradient must sum).
 */
export async function gradientsMatchFiniteDifferences(): Promise<void> {
  // One layer: every kind of parameter is there, at half the cost (webgpu on SwiftShader runs ~0.3 s a forward pass).
  const cases: { tied: boolean; names: string[] }[] = [
    { tied: false, names: [EMBED, LM_HEAD, 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_norm.weight', 'model.layers.0.mlp.down_proj.weight', 'model.layers.0.post_attention_layernorm.weight', 'model.norm.weight'] },
    { tied: true, names: [EMBED] },
  ];
  // Row 1 packs two sequences; row 2 is one sequence then padding. Targets are next tokens within a sequence.
  const x = inputs(
    [[1, 5, 5, 9, 1, 2, 7, 5], [3, 8, 8, 2, 11, 0, 0, 0]],
    [[0, 1, 2, 3, 0, 1, 2, 3], [0, 1, 2, 3, 4, 0, 0, 0]],
    [[1, 1, 1, 1, 2, 2, 2, 2], [1, 1, 1, 1, 1, 0, 0, 0]],
  );
  const targets = Int32Array.from([5, 5, 9, -100, 2, 7, 5, -100, 8, 8, 2, 11, -100, -100, -100, -100]);
  try {
    let seed = 100;
    for (const { tied, names } of cases) {
      const model = Qwen3Model.random(testConfig({ tieWordEmbeddings: tied, numHiddenLayers: 1 }), 3);
      try {
        for (const v of model.weights.values()) {
          const s = seed++;
          tf.tidy(() => v.assign(v.rank === 1 ? tf.add(1, tf.mul(0.3, tf.randomNormal(v.shape, 0, 1, 'float32', s))) : tf.randomNormal(v.shape, 0, 0.3, 'float32', s)));
        }
        const H = model.config.hiddenSize;
        const loss = () => tf.tidy(() => lmHeadLoss(tf.reshape(model.hidden(x), [16, H]) as tf.Tensor2D, model.headWeight(), targets, { chunkTokens: 3 }));
        const lossAt = async (v: tf.Variable, data: Float32Array): Promise<number> => {
          tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
          const l = loss();
          const r = (await l.data())[0];
          l.dispose();
          return r;
        };
        const { value, grads } = tf.variableGrads(loss, [...model.weights.values()]);
        value.dispose();
        const nameOf = new Map([...model.weights].map(([n, v]) => [v.name, n]));
        const gradOf = new Map(Object.entries(grads).map(([id, g]) => [nameOf.get(id)!, g]));
        try {
          for (const name of names) {
            const v = model.weights.get(name)!;
            const g = new Float32Array(await gradOf.get(name)!.data());
            const base = new Float32Array(await v.data());
            const where = `${tied ? 'tied' : 'untied'} ${name}`;
            ensure(g.every(Number.isFinite), () => `${where}: the gradient has non-finite entries`);
            const gNorm = Math.hypot(...g);
            ensure(gNorm > 1e-3, () => `${where}: gradient norm ${gNorm} is too small to check (the setup is wrong)`);
            // Along the gradient: (L(w + εĝ) − L(w − εĝ)) / 2ε = ⟨∇L, ĝ⟩, which equals |g| only when g is the gradient.
            // ε = 2e-3: q_proj (through the per-head q_norm) is curved enough that 1e-2 is 2% off in exact arithmetic,
            // and float32 roundoff of a loss near 5 grows as 1/ε below 1e-3. On cpu, wasm and webgpu the differences
            // measured at most 1/6 of these tolerances.
            const eps = 2e-3;
            const along = async (sign: number) => lossAt(v, base.map((w, i) => w + (sign * eps * g[i]) / gNorm));
            const fdAlong = ((await along(1)) - (await along(-1))) / (2 * eps);
            ensure(Math.abs(fdAlong - gNorm) <= 2e-3 * gNorm + 4e-5, () =>
              `${where}: the finite-difference slope along the gradient is ${fdAlong}, the gradient's norm is ${gNorm} (they must agree within 0.2%)`);
            // The largest entry on its own (an error in a few entries is second order along the gradient).
            const probes = [...g.keys()].sort((i, j) => Math.abs(g[j]) - Math.abs(g[i])).slice(0, 1);
            for (const i of probes) {
              const h = 3e-3;
              const at = (d: number) => lossAt(v, base.map((w, j) => (j === i ? w + d : w)));
              const fd = ((await at(h)) - (await at(-h))) / (2 * h);
              ensure(Math.abs(fd - g[i]) <= 4e-3 * Math.abs(g[i]) + 1e-4, () => `${where}[${i}]: finite difference ${fd}, gradient ${g[i]}`);
            }
            tf.tidy(() => v.assign(tf.tensor(base, v.shape, 'float32')));
          }
        } finally {
          tf.dispose(Object.values(grads));
        }
      } finally {
        model.dispose();
      }
    }
  } finally {
    tf.dispose([x.inputIds, x.positionIds, x.segmentIds]);
  }
}

// ---------------------------------------------------------------- non-finite steps

/** Logs of a job, plus which example indices each step read (the source records them; beforeStep resets). */
function recordingSource(examples: readonly TokenizedExample[]): { source: ExampleSource; read: number[] } {
  const read: number[] = [];
  return { source: { size: examples.length, get: (i) => (read.push(i), examples[i]) }, read };
}

function describeBytes(before: TrainingBytes, after: TrainingBytes): string[] {
  const out = [...byteDifferences('weight', before.params, after.params), ...byteDifferences('moment', before.slots, after.slots)];
  if (before.optimizerStep !== after.optimizerStep) out.push(`optimizer step ${before.optimizerStep} → ${after.optimizerStep}`);
  return out;
}

/**
 * A NaN in a weight every batch reads: each step is skipped and leaves the weights, the Adam moments and the
 * optimizer's step count bit for bit as they were (after two normal steps, so the moments are not zero); the
 * third skipped step in a row ends the job with TrainingError 'non_finite'. With maxGradNorm > 0 the update goes
 * through the clip factor min(1, max/‖g‖) = NaN, which is where 0·NaN = NaN used to corrupt the moments. Weight
 * decay is on and some weights are −0, so a skipped step that only "adds zero" would still show as a changed bit.
 */
async function nanWeightLeavesStateBitIdentical(maxGradNorm: number): Promise<void> {
  const config = tinyTrainConfig({ maxGradNorm, maxConsecutiveNonFinite: 3, weightDecay: 0.1 });
  const model = Qwen3Model.random(modelConfig, 21);
  const optimizer = newAdamW(config);
  try {
    const source = sourceOf(syntheticExamples(4, 1, { vocab: V }));
    await train('two normal steps before the NaN', { model, source, config, padTokenId: PAD, steps: 2, optimizer });
    const w = model.weights.get('model.layers.0.mlp.up_proj.weight')!;
    const poisoned = new Float32Array(await w.data());
    poisoned[5] = NaN;
    poisoned[6] = -0; // signed zeros must keep their sign too (real checkpoints have them)
    poisoned[7] = 0;
    tf.tidy(() => w.assign(tf.tensor(poisoned, w.shape, 'float32')));
    const norm = model.weights.get('model.layers.1.input_layernorm.weight')!;
    const signed = new Float32Array(await norm.data());
    signed[0] = -0;
    tf.tidy(() => norm.assign(tf.tensor(signed, norm.shape, 'float32')));
    const before = await trainingBytes(model.weights, optimizer);
    const logs: LogMetrics[] = [];
    const err = await rejection(runJob({ model, source, config, padTokenId: PAD, steps: 5, optimizer }, { onLog: (m) => void logs.push(m) }), 'training with a NaN weight');
    const after = await trainingBytes(model.weights, optimizer);
    const changed = describeBytes(before, after);
    ensure(changed.length === 0, () => `maxGradNorm ${maxGradNorm}: skipped steps changed the training state: ${changed.join('; ')}`);
    ensure(err instanceof TrainingError && err.kind === 'non_finite', () => `maxGradNorm ${maxGradNorm}: expected TrainingError 'non_finite' after 3 skipped steps, got ${String(err)}`);
    const seen = logs.map((m) => `${m.skipped}/${m.nonFiniteSkipped}/${m.fileNonFiniteSkipped}`).join(' ');
    ensure(seen === 'true/1/1 true/2/2', () => `maxGradNorm ${maxGradNorm}: logs (skipped/nonFiniteSkipped/fileNonFiniteSkipped) were "${seen}", expected "true/1/1 true/2/2"`);
  } finally {
    disposeAll(optimizer, model);
  }
}

export const nonFiniteStepClipped = () => nanWeightLeavesStateBitIdentical(1.0);
export const nonFiniteStepUnclipped = () => nanWeightLeavesStateBitIdentical(0);

/**
 * An untied model whose embedding row for one token is NaN: the steps whose batch reads that token are skipped
 * (state bit-identical), every other step trains normally (finite loss, the final norm moves, one more optimizer
 * step, every weight outside that row and every moment finite). One example per step, so each step's batch is known.
 */
async function nanEmbeddingRowSkipsOnlyItsBatches(maxGradNorm: number): Promise<void> {
  const X = V - 1; // never drawn by syntheticExamples
  const config = tinyTrainConfig({ maxGradNorm, batchSize: 1, maxConsecutiveNonFinite: 10 });
  const model = Qwen3Model.random({ ...modelConfig, tieWordEmbeddings: false }, 22);
  const optimizer = newAdamW(config);
  const examples = syntheticExamples(6, 2, { vocab: V });
  const poisoned = new Set([1, 3, 4]);
  for (const i of poisoned) examples[i].ids[2] = X; // in the prompt: read by the embedding, not a target
  try {
    // One clean step first, so that the moments exist and are not zero.
    await train('one normal step before the NaN', { model, source: sourceOf(examples.filter((_, i) => !poisoned.has(i))), config, padTokenId: PAD, steps: 1, optimizer });
    const E = model.weights.get(EMBED)!; // [H, V]: the token's row is column X
    const [H] = E.shape;
    const e = new Float32Array(await E.data());
    for (let h = 0; h < H; h++) e[h * V + X] = NaN;
    tf.tidy(() => E.assign(tf.tensor(e, E.shape, 'float32')));

    const { source, read } = recordingSource(examples);
    let before: TrainingBytes | undefined;
    let skippedSoFar = 0;
    const tag = (m: LogMetrics) => `maxGradNorm ${maxGradNorm}, step ${m.fileStep} (examples ${read.join(',')})`;
    const r = await train('the job over clean and poisoned batches', { model, source, config, padTokenId: PAD, steps: examples.length, optimizer }, {
      beforeStep: async () => {
        read.length = 0;
        before = await trainingBytes(model.weights, optimizer);
        return 'continue' as const;
      },
      onLog: async (m) => {
        const after = await trainingBytes(model.weights, optimizer);
        if (read.some((i) => poisoned.has(i))) {
          skippedSoFar++;
          ensure(m.skipped, () => `${tag(m)}: the batch reads the NaN row but the step was not skipped (loss ${m.loss})`);
          const changed = describeBytes(before!, after);
          ensure(changed.length === 0, () => `${tag(m)}: the skipped step changed the training state: ${changed.join('; ')}`);
        } else {
          ensure(!m.skipped && Number.isFinite(m.loss), () => `${tag(m)}: a batch that does not read the NaN row was skipped or gave loss ${m.loss}`);
          ensure(after.optimizerStep === before!.optimizerStep + 1, () => `${tag(m)}: optimizer step ${before!.optimizerStep} → ${after.optimizerStep}, expected one more`);
          const norm = 'model.norm.weight';
          ensure(byteDifferences('', new Map([[norm, before!.params.get(norm)!]]), new Map([[norm, after.params.get(norm)!]])).length > 0, () => `${tag(m)}: ${norm} did not change`);
          for (const [name, bytes] of after.params) {
            const f = new Float32Array(bytes.buffer);
            const bad = f.findIndex((x, i) => !Number.isFinite(x) && !(name === EMBED && i % V === X));
            ensure(bad < 0, () => `${tag(m)}: ${name}[${bad}] is ${f[bad]} after a normal step`);
          }
          for (const [name, bytes] of after.slots) {
            const bad = new Float32Array(bytes.buffer).findIndex((x) => !Number.isFinite(x));
            ensure(bad < 0, () => `${tag(m)}: moment ${name}[${bad}] is not finite after a normal step`);
          }
        }
        ensure(m.fileNonFiniteSkipped === skippedSoFar, () => `${tag(m)}: fileNonFiniteSkipped ${m.fileNonFiniteSkipped}, expected ${skippedSoFar}`);
      },
    });
    ensure(r.status === 'completed' && r.state.fileNonFiniteSkipped === poisoned.size && r.state.nonFiniteSkipped === poisoned.size, () =>
      `maxGradNorm ${maxGradNorm}: job ${r.status} with ${r.state.fileNonFiniteSkipped} steps skipped in the file (${r.state.nonFiniteSkipped} in all); expected completed with ${poisoned.size}`);
  } finally {
    disposeAll(optimizer, model);
  }
}

export const nanEmbeddingRowClipped = () => nanEmbeddingRowSkipsOnlyItsBatches(1.0);
export const nanEmbeddingRowUnclipped = () => nanEmbeddingRowSkipsOnlyItsBatches(0);

// ---------------------------------------------------------------- resume

interface ResumeRun {
  /** Losses of the uninterrupted run, of the run stopped after `k` steps, and of the resumed remainder. */
  full: number[];
  first: number[];
  rest: number[];
  /** Trained parameters after the uninterrupted and the resumed run, as bytes. */
  fullEnd: Map<string, Uint8Array>;
  restEnd: Map<string, Uint8Array>;
  snapshotStep: number;
}

async function* hfStream(weights: SnapshotData['weights']): AsyncGenerator<[string, HfTensor]> {
  for (const w of weights) yield [w.name, { shape: w.shape, data: w.data }];
}

/**
 * `steps` steps uninterrupted; the same run stopped at step `k` with the checkpoint taken there read into memory; a
 * fresh model (fromTensorStream, or fromTensors with LoRA), a fresh AdamW (importState) and a fresh adapter
 * (loadPeftTensors) continue from the JSON-cloned trainer state. Everything made here is disposed here.
 */
async function interruptedRun(lora: boolean, steps: number, k: number, gradAccumSteps = 2): Promise<ResumeRun> {
  const examples = syntheticExamples(10, 5, { vocab: V });
  const config = tinyTrainConfig({ gradAccumSteps, saveSteps: k, seed: 11, ...(lora ? { lora: LORA } : {}) });
  const job = (model: Qwen3Model, extra: Partial<TrainJob> = {}): TrainJob => ({ model, source: sourceOf(examples), config, padTokenId: PAD, steps, ...extra });
  const owned: { dispose(): void }[] = [];
  const own = <T extends { dispose(): void } | undefined>(t: T): T => (t && owned.push(t), t);
  try {
    const trained = async (r: { lora?: LoraAdapter }, m: Qwen3Model) => bytesOfAll(r.lora ? r.lora.weights : m.weights);
    const m1 = own(Qwen3Model.random(modelConfig, 2));
    const full: number[] = [];
    const r1 = await train('the uninterrupted run', job(m1), { onLog: (m) => void full.push(m.loss) });
    own(r1.optimizer), own(r1.lora);
    const fullEnd = await trained(r1, m1);

    const m2 = own(Qwen3Model.random(modelConfig, 2));
    const first: number[] = [];
    let snap: SnapshotData | undefined;
    const r2 = await train('the run stopped at the checkpoint', job(m2), {
      onLog: (m) => void first.push(m.loss),
      onCheckpoint: async (s) => void (snap ??= await readSnapshot(s)),
      beforeStep: (s) => (s.globalStep >= k ? 'stop' : 'continue'),
    });
    own(r2.optimizer), own(r2.lora);
    if (!snap) fail(`no checkpoint was taken at step ${k}`);
    const s = snap;
    ensure(r2.status === 'stopped' && s.step === k, () => `the interrupted run ended ${r2.status} with its first checkpoint at step ${s.step}; expected stopped at ${k}`);
    ensure(!lora || (s.adapter?.length ?? 0) > 0, () => 'the LoRA snapshot has no adapter tensors');

    const state = JSON.parse(JSON.stringify(s.state)) as SnapshotData['state'];
    const m3 = own(lora ? Qwen3Model.fromTensors(s.modelConfig, new Map(s.weights.map((w) => [w.name, { shape: w.shape, data: w.data }]))) : await Qwen3Model.fromTensorStream(s.modelConfig, hfStream(s.weights)));
    const adapter = lora ? own(new LoraAdapter(m3, s.config.lora, 12345)) : undefined; // another seed: loading must overwrite it
    adapter?.loadPeftTensors(s.adapter!);
    const opt = own(newAdamW(s.config));
    opt.importState(s.optimizer, adapter ? adapter.weights : m3.weights);
    const rest: number[] = [];
    const r3 = await train('the resumed run', job(m3, { state, optimizer: opt, lora: adapter }), { onLog: (m) => void rest.push(m.loss) });
    ensure(r3.state.globalStep === steps, () => `the resumed run ended at global step ${r3.state.globalStep}, expected ${steps}`);
    return { full, first, rest, fullEnd, restEnd: await trained(r3, m3), snapshotStep: s.step };
  } finally {
    for (const t of owned.reverse()) t.dispose();
  }
}

async function resumeEqualsUninterrupted(lora: boolean): Promise<void> {
  // Four examples a step, ten in the file: the resumed part crosses into the second epoch. LoRA is ~3x slower a step on webgpu.
  const steps = lora ? 3 : 4, k = 2;
  const r = await interruptedRun(lora, steps, k);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
  ensure(r.full.every(Number.isFinite) && r.full.length === steps, () => `the uninterrupted run logged ${r.full.join(', ')}`);
  ensure(same(r.first, r.full.slice(0, k)), () => `the first ${k} losses ${r.first.join(', ')} differ from the uninterrupted run's ${r.full.slice(0, k).join(', ')}`);
  ensure(same(r.rest, r.full.slice(k)), () => `losses after resuming at step ${k}: ${r.rest.join(', ')}; uninterrupted: ${r.full.slice(k).join(', ')}`);
  const changed = byteDifferences(lora ? 'adapter' : 'weight', r.fullEnd, r.restEnd);
  ensure(changed.length === 0, () => `trained parameters after the resumed run differ from the uninterrupted run's: ${changed.join('; ')}`);
}

export const resumeFullFineTuning = () => resumeEqualsUninterrupted(false);
export const resumeLora = () => resumeEqualsUninterrupted(true);

// ---------------------------------------------------------------- memory

/** After the first step (which creates the optimizer slots) tf.memory() stays put; dispose returns to the start. */
export async function noGrowthAcrossSteps(): Promise<void> {
  const start = memoryCounts();
  const model = Qwen3Model.random(modelConfig, 31);
  const counts: MemoryCounts[] = [];
  const r = await train('five steps', { model, source: sourceOf(syntheticExamples(6, 3, { vocab: V })), config: tinyTrainConfig(), padTokenId: PAD, steps: 5 }, { onStep: () => void counts.push(memoryCounts()) });
  for (let i = 2; i < counts.length; i++) ensureSameCounts(`step ${i + 1} vs step 2`, counts[1], counts[i]);
  ensureSameCounts('step 2 vs step 1', counts[0], counts[1]);
  disposeAll(r.optimizer, model);
  ensureSameCounts('a finished job with its model and optimizer disposed', start, memoryCounts());
}

/** The size of a parameter map in tensors and bytes. */
const sizeOf = (params: ReadonlyMap<string, tf.Tensor>) => ({ n: params.size, bytes: [...params.values()].reduce((s, v) => s + 4 * v.size, 0) });

/**
 * Importing a state into an optimizer that already has its slots adds nothing (it used to leak one tensor per slot);
 * into a fresh one it adds exactly its slots (and the step scalar), and dispose gives all of it back.
 */
export async function noGrowthAcrossImportState(): Promise<void> {
  const config = tinyTrainConfig();
  const model = Qwen3Model.random(modelConfig, 32);
  const optimizer = newAdamW(config);
  let fresh: AdamW | undefined;
  try {
    await train('two steps to fill the moments', { model, source: sourceOf(syntheticExamples(4, 4, { vocab: V })), config, padTokenId: PAD, steps: 2, optimizer });
    const state = await optimizer.exportState();
    const m0 = memoryCounts();
    optimizer.importState(state, model.weights);
    optimizer.importState(state, model.weights);
    ensureSameCounts('importState (twice) into an optimizer that has its slots', m0, memoryCounts());
    const { n, bytes } = sizeOf(model.weights);
    fresh = newAdamW(config);
    fresh.importState(state, model.weights);
    ensureSameCounts('a fresh AdamW plus importState (expected: its step scalar and two slots per parameter)', { numTensors: m0.numTensors + 1 + 2 * n, numBytes: m0.numBytes + 4 + 2 * bytes }, memoryCounts());
    fresh.dispose();
    fresh = undefined;
    ensureSameCounts('a fresh AdamW with an imported state, disposed', m0, memoryCounts());
  } finally {
    disposeAll(fresh, optimizer, model);
  }
}

/**
 * After resizeVocab the optimizer's moments grow on the device: no tensor more, exactly the new columns' bytes, the
 * old moments kept bit for bit and the new columns zero; the next step trains without adding anything.
 */
export async function noGrowthAcrossGrowSlots(): Promise<void> {
  const config = tinyTrainConfig();
  const model = Qwen3Model.random({ ...modelConfig, tieWordEmbeddings: false }, 33);
  const optimizer = newAdamW(config);
  const source = sourceOf(syntheticExamples(4, 6, { vocab: V }));
  try {
    await train('two steps before resizeVocab', { model, source, config, padTokenId: PAD, steps: 2, optimizer });
    const before = await optimizer.exportState();
    const H = model.config.hiddenSize, added = 8;
    const m0 = memoryCounts();
    model.resizeVocab(V + added);
    const grownBytes = 2 * H * added * 4; // embedding and LM head
    ensureSameCounts('resizeVocab', { numTensors: m0.numTensors, numBytes: m0.numBytes + grownBytes }, memoryCounts());
    optimizer.growSlots(model.weights);
    const m1 = memoryCounts();
    ensureSameCounts('growSlots after resizeVocab (expected: m and v of both grown parameters)', { numTensors: m0.numTensors, numBytes: m0.numBytes + 3 * grownBytes }, m1);
    const after = await optimizer.exportState();
    for (const name of [EMBED, LM_HEAD].flatMap((p) => [`${p}/m`, `${p}/v`])) {
      const a = before.slots.find((s) => s.name === name)!, b = after.slots.find((s) => s.name === name);
      ensure(!!b && b.shape.join() === `${H},${V + added}`, () => `${name} has shape [${b?.shape}] after growSlots, expected [${H}, ${V + added}]`);
      for (let h = 0; h < H; h++) {
        for (let c = 0; c < V + added; c++) {
          const got = b.data[h * (V + added) + c], want = c < V ? a.data[h * V + c] : 0;
          ensure(Object.is(got, want), () => `${name}[${h}, ${c}] is ${got} after growSlots, expected ${want}`);
        }
      }
    }
    await train('a step after growSlots', { model, source, config, padTokenId: PAD, steps: 1, optimizer });
    ensureSameCounts('a training step after growSlots', m1, memoryCounts());
  } finally {
    disposeAll(optimizer, model);
  }
}

/** A LoraAdapter holds exactly its A and B matrices; disposing it (also after training it) gives everything back. */
export async function noGrowthAcrossLora(): Promise<void> {
  const model = Qwen3Model.random(modelConfig, 34);
  try {
    const config = tinyTrainConfig({ lora: LORA });
    const m0 = memoryCounts();
    const lora = new LoraAdapter(model, config.lora, 1);
    const { n, bytes } = sizeOf(lora.weights);
    ensure(n === 2 * lora.targets.length && n > 0, () => `the adapter has ${n} tensors for ${lora.targets.length} targets`);
    ensureSameCounts('a new LoraAdapter (expected: its A and B matrices)', { numTensors: m0.numTensors + n, numBytes: m0.numBytes + bytes }, memoryCounts());
    lora.dispose();
    ensureSameCounts('a LoraAdapter created and disposed', m0, memoryCounts());
    const r = await train('a LoRA job', { model, source: sourceOf(syntheticExamples(4, 7, { vocab: V })), config, padTokenId: PAD, steps: 2 });
    disposeAll(r.lora, r.optimizer);
    ensureSameCounts('a LoRA job with its adapter and optimizer disposed', m0, memoryCounts());
  } finally {
    model.dispose();
  }
}

/** Train, checkpoint, resume into fresh objects, dispose everything: tf.memory() is back where it started. */
export async function noGrowthAcrossResumeAndDispose(): Promise<void> {
  const start = memoryCounts();
  for (const lora of [false, true]) {
    const r = await interruptedRun(lora, 2, 1, 1);
    ensure(r.rest.length === 1, () => `the resumed run logged ${r.rest.length} losses, expected 1`);
    ensureSameCounts(`train, resume${lora ? ' with LoRA' : ''} and dispose`, start, memoryCounts());
  }
}

// ---------------------------------------------------------------- evaluation in batches

/**
 * The fixed eval sets score and answer a padded batch of examples at a time: the batch must give each example what it
 * gets alone (teacher-forced p(golden) and top-1; the greedy answer with its per-row cap), and free what it made.
 */
export async function batchedEvalEqualsOneByOne(): Promise<void> {
  const model = Qwen3Model.random(modelConfig, 11);
  const start = memoryCounts();
  try {
    const rows = [[1, 5, 9], [1, 7, 8, 9, 10, 11, 12], [1, 20, 21, 22, 23]];
    const seqs = rows.map((r) => ({ ids: Int32Array.from([...r, 30, 31, 32]), trainMask: Uint8Array.from([...r.map(() => 0), 1, 1, 1]) }));
    const batch = await scoreAnswerTokensBatch(model, seqs);
    for (let i = 0; i < seqs.length; i++) {
      const one = await scoreAnswerTokens(model, seqs[i].ids, seqs[i].trainMask);
      const d = maxAbsDiff(batch[i].goldenProb, one.goldenProb).max;
      ensure(d < 1e-4, () => `example ${i}: batched p(golden) differs from scoring it alone by ${d}`);
      ensure(batch[i].top.join() === one.top.join(), () => `example ${i}: batched top-1 ${batch[i].top.join()} ≠ alone ${one.top.join()}`);
    }
    const decode = (ids: readonly number[]) => ids.join(' ');
    const answers = await greedyBatch(model, rows.map((ids, i) => ({ ids, maxNewTokens: 3 + i })), { eosTokenIds: [], decode });
    for (let i = 0; i < rows.length; i++) {
      const alone = await generate(model, rows[i], { maxNewTokens: 3 + i, temperature: 0, eosTokenIds: [], decode });
      ensure(answers[i].text === alone.text, () => `prompt ${i}: the batch answered "${answers[i].text}", alone "${alone.text}"`);
    }
    ensureSameCounts('batched eval', start, memoryCounts());
  } finally {
    model.dispose();
  }
}

// ---------------------------------------------------------------- the matrix

const RUN: Record<CheckName, (ctx: CheckContext) => Promise<void>> = {
  'golden logits': goldenLogits,
  'gradients match finite differences': gradientsMatchFiniteDifferences,
  'non-finite step leaves weights and moments bit-identical (maxGradNorm 1)': nonFiniteStepClipped,
  'non-finite step leaves weights and moments bit-identical (maxGradNorm 0)': nonFiniteStepUnclipped,
  'NaN embedding row skips only the batches that read it (maxGradNorm 1)': nanEmbeddingRowClipped,
  'NaN embedding row skips only the batches that read it (maxGradNorm 0)': nanEmbeddingRowUnclipped,
  'resume equals the uninterrupted run': resumeFullFineTuning,
  'resume equals the uninterrupted run with LoRA': resumeLora,
  'no tensor growth across steps': noGrowthAcrossSteps,
  'no tensor growth across AdamW.importState': noGrowthAcrossImportState,
  'no tensor growth across growSlots after resizeVocab': noGrowthAcrossGrowSlots,
  'no tensor growth across LoraAdapter create and dispose': noGrowthAcrossLora,
  'no tensor growth across resume then dispose': noGrowthAcrossResumeAndDispose,
  'batched eval equals one example at a time': batchedEvalEqualsOneByOne,
};

/** Every check, in the order of CHECK_NAMES; a name is what a failing cell reads like after its backend. */
export const CORE_CHECKS: readonly CoreCheck[] = CHECK_NAMES.map((name) => ({ name, run: RUN[name] }));
