/**
 * The check before a file trains: can this model, with this training config, train on this backend and device —
 * and correctly? A pure function of what the daemon knows (configs, backend, adapter limits, device memory), so the
 * daemon can refuse a run with the reason before it starts instead of failing, stalling or computing wrong numbers;
 * the memory panel shows the same verdict. Also: the device-memory setting and the table of known adapters it is
 * prefilled from (WebGPU does not say how much memory a GPU has).
 */
import type { GpuAdapterSummary } from '../engine/backend.ts';
import { WASM_HEAP_BYTES, WASM_USABLE_BYTES, capacityNeed, formatGiB } from '../engine/capacity.ts';
import { estimateTrainingMemory, type MemoryEstimate, type MemoryRelevantConfig } from '../engine/memory-estimate.ts';
import type { ModelConfig } from '../engine/types.ts';

/** Settings key of the device memory in bytes the person set (null or absent: the adapter table's guess). */
export const DEVICE_MEMORY_SETTING = 'deviceMemoryBytes';

/** The backend a run will use, with the WebGPU adapter's limits when known. */
export interface PreflightBackend {
  /** 'webgpu', 'webgl', 'wasm' or 'cpu'; the daemon state's "webgpu (adapter name)" form is read as its first word. */
  name: string;
  maxStorageBufferBindingSize?: number;
  maxBufferSize?: number;
}

/** The training config fields that decide whether a run fits (TrainConfig has them all). */
export type PreflightTrainConfig = MemoryRelevantConfig & { lora?: MemoryRelevantConfig['lora'] & { dropout?: number } };

export interface PreflightInput {
  model: ModelConfig;
  train: PreflightTrainConfig;
  backend: PreflightBackend;
  /** The device's memory in bytes (the setting, else the adapter table); unknown: undefined or null. Not used on wasm. */
  deviceBytes?: number | null;
}

export interface PreflightResult {
  /** False when the run would not fit or would compute wrong numbers: do not start it. */
  ok: boolean;
  /** One sentence each: what does not fit, by how much, and what to change. */
  problems: string[];
  /** Worth knowing, not stopping (e.g. the device memory is unknown, so only the wasm and binding limits were checked). */
  notes: string[];
  /** Bytes the run needs on this backend (wasm: with XNNPACK's packed copies). */
  needBytes: number;
  /** What it was compared with (wasm: the usable heap; else the device), when known. */
  limitBytes?: number;
  /** Names the limit for display: "wasm heap", "device". */
  limitLabel: string;
  estimate: MemoryEstimate;
}

const LORA_DEFAULTS = { rank: 8, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] };
const withLora = (t: PreflightTrainConfig): PreflightTrainConfig => ({ ...t, lora: { ...LORA_DEFAULTS, ...t.lora, enabled: true } });
const withCheckpointing = (t: PreflightTrainConfig): PreflightTrainConfig => ({ ...t, gradientCheckpointing: true, lora: t.lora && { ...t.lora, dropout: 0 } });

/** Single changes to the training config the advice can propose, with how each reads (null: already so). */
const CHANGES: [string, (t: PreflightTrainConfig) => PreflightTrainConfig | null][] = [
  ['turn on gradient checkpointing', (t) => (t.gradientCheckpointing ? null : withCheckpointing(t))],
  ['train with LoRA (lora.enabled)', (t) => (t.lora?.enabled ? null : withLora(t))],
  ['train with LoRA and gradient checkpointing', (t) => (t.lora?.enabled || t.gradientCheckpointing ? null : withCheckpointing(withLora(t)))],
  ['batch size 1', (t) => (t.batchSize > 1 ? { ...t, batchSize: 1 } : null)],
];

/** The longest max length (a power of two from 128, below the current one) with which `t` needs at most `limit`. */
function longestFitting(t: PreflightTrainConfig, limit: number, need: (t: PreflightTrainConfig) => number): number | null {
  for (let L = 2 ** Math.floor(Math.log2(t.maxLength - 1)); L >= 128; L /= 2) if (need({ ...t, maxLength: L }) <= limit) return L;
  return null;
}

/**
 * Config changes that bring the run under `limit`, as "turn on … (then ~X GiB)": up to three single changes, else
 * the combination (LoRA, checkpointing, batch 1, a shorter max length); empty when nothing fits.
 */
function fixes(input: PreflightInput, limit: number): string[] {
  const need = (t: PreflightTrainConfig) => capacityNeed(input.model, { kind: 'training', train: t }, input.backend.name).totalBytes;
  const t0 = input.train;
  const out: string[] = [];
  for (const [says, apply] of CHANGES) {
    const t = apply(t0);
    if (t && need(t) <= limit) out.push(`${says} (then ~${formatGiB(need(t))})`);
  }
  const L = longestFitting(t0, limit, need);
  if (L !== null) out.push(`max length ${L} (now ${t0.maxLength}; then ~${formatGiB(need({ ...t0, maxLength: L }))})`);
  if (out.length === 0) {
    const least = { ...withCheckpointing(withLora(t0)), batchSize: 1 };
    const Lc = need(least) <= limit ? least.maxLength : longestFitting(least, limit, need);
    if (Lc !== null) out.push(`train with LoRA and gradient checkpointing, batch size 1, max length ${Lc} (then ~${formatGiB(need({ ...least, maxLength: Lc }))})`);
  }
  const dropout = t0.lora?.enabled && (t0.lora.dropout ?? 0) > 0;
  return out.slice(0, 3).map((s) => (dropout && s.includes('checkpointing') ? `${s}, with lora.dropout 0` : s));
}

/** What the biggest single tensor is and what would shrink it. */
function bindingProblem(input: PreflightInput, e: MemoryEstimate, binding: number): string {
  const { model: c, train: t } = input;
  const embed = 4 * c.vocabSize * c.hiddenSize;
  const scores = 4 * t.batchSize * c.numAttentionHeads * t.maxLength * t.maxLength;
  const head = `One tensor needs ${formatGiB(e.largestTensorBytes)} but this WebGPU adapter binds at most ${formatGiB(binding)} at once`;
  if (e.largestTensorBytes === embed) return `${head} (the embedding, ${c.vocabSize} × ${c.hiddenSize}): no training setting changes it; use an adapter with larger buffers.`;
  if (e.largestTensorBytes === scores) {
    let L = t.maxLength;
    while (L > 16 && 4 * t.batchSize * c.numAttentionHeads * L * L > binding) L = Math.floor(L / 2);
    return `${head} (the attention scores, batch ${t.batchSize} × ${c.numAttentionHeads} heads × ${t.maxLength}² tokens): lower max length to ${L} or the batch size.`;
  }
  return `${head} (one LM-head chunk of ${t.lmHeadChunkTokens ?? 256} tokens × ${c.vocabSize}): lower lmHeadChunkTokens.`;
}

/**
 * Whether a run of `train` on `model` fits `backend` (and the device): on wasm, against the heap the capacity rule
 * allows (wrong numbers past it); elsewhere against `deviceBytes` when known and the adapter's buffer limits.
 */
export function preflight(given: PreflightInput): PreflightResult {
  const input = { ...given, backend: { ...given.backend, name: given.backend.name.trim().split(/[\s(]/)[0].toLowerCase() } };
  const { model, train, backend } = input;
  const estimate = estimateTrainingMemory(model, train);
  const needBytes = capacityNeed(model, { kind: 'training', train }, backend.name).totalBytes;
  const problems: string[] = [];
  const notes: string[] = [];
  const wasm = backend.name === 'wasm';
  const limitBytes = wasm ? WASM_USABLE_BYTES : (input.deviceBytes ?? undefined);
  const limitLabel = wasm ? 'wasm heap' : 'device';

  if (limitBytes !== undefined && needBytes > limitBytes) {
    const fix = fixes(input, limitBytes);
    if (wasm) {
      const floor = capacityNeed(model, { kind: 'inference', tokens: 1 }, 'wasm');
      const why = `Training needs ~${formatGiB(needBytes)} of wasm memory (XNNPACK keeps a packed copy of every weight matrix), but the wasm heap is ${formatGiB(WASM_HEAP_BYTES)} and past ~${formatGiB(WASM_USABLE_BYTES)} TF.js computes wrong numbers without an error`;
      problems.push(
        fix.length
          ? `${why}: ${fix.join(', or ')}, or train on a GPU (WebGPU).`
          : `${why}; no setting fits (weights and their packed copies alone are ~${formatGiB(floor.weightsBytes + floor.packedBytes)}): train on a GPU (WebGPU backend), or from the command line with \`npm run cli -- train --backend cpu\`.`,
      );
    } else {
      problems.push(
        `Training needs ~${formatGiB(needBytes)} but the device has ${formatGiB(limitBytes)}: ${fix.length ? fix.join(', or ') : 'no setting fits; use a smaller model or a device with more memory (or correct the device memory in the memory panel)'}.`,
      );
    }
  }
  if (backend.name === 'webgpu') {
    const binding = Math.min(backend.maxStorageBufferBindingSize ?? Infinity, backend.maxBufferSize ?? Infinity);
    if (estimate.largestTensorBytes > binding) problems.push(bindingProblem(input, estimate, binding));
  }
  if (!wasm && limitBytes === undefined) {
    notes.push(`The device's memory is unknown, so whether ~${formatGiB(needBytes)} fits was not checked: set it in the memory panel.`);
  }
  return { ok: problems.length === 0, problems, notes, needBytes, limitBytes, limitLabel, estimate };
}

/** Known adapters' memory in GiB, matched on WebGPU's vendor/architecture/device/description (first match wins). */
const KNOWN_ADAPTERS: readonly [RegExp, number, string][] = [
  [/\bh200\b/, 141, 'NVIDIA H200'],
  [/\bh100\b/, 80, 'NVIDIA H100'],
  [/\ba100\b.*\b80\s?gb?\b|\b80\s?gb?\b.*\ba100\b/, 80, 'NVIDIA A100 80GB'],
  [/\ba100\b/, 40, 'NVIDIA A100 40GB'],
  [/\bl40s?\b/, 48, 'NVIDIA L40'],
  [/\brtx\s?a6000\b|\ba6000\b/, 48, 'NVIDIA RTX A6000'],
  [/\brtx\s?5090\b/, 32, 'NVIDIA RTX 5090'],
  [/\brtx\s?4090\b/, 24, 'NVIDIA RTX 4090'],
  [/\brtx\s?3090\b/, 24, 'NVIDIA RTX 3090'],
  [/\b(l4|a10)\b/, 24, 'NVIDIA L4 / A10'],
  [/\brx\s?7900\s?xtx\b/, 24, 'AMD RX 7900 XTX'],
  [/\brtx\s?(4080|5080)\b/, 16, 'NVIDIA RTX 4080 / 5080'],
  [/\bt4\b/, 16, 'NVIDIA T4'],
  [/\brtx\s?3080\b/, 10, 'NVIDIA RTX 3080'],
];

/**
 * What the adapter table says about a WebGPU adapter's memory: bytes and a label, or no bytes ("ask the person")
 * for an adapter it cannot tell (Apple, integrated, a family name without the model, no adapter).
 */
export function deviceMemoryFromAdapter(info: GpuAdapterSummary | null | undefined): { bytes?: number; label: string } {
  if (!info) return { label: 'no WebGPU adapter' };
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').toLowerCase();
  if (info.isFallbackAdapter) return { label: `software adapter (${text || 'unknown'})` };
  for (const [re, gib, name] of KNOWN_ADAPTERS) if (re.test(text)) return { bytes: gib * 1024 ** 3, label: name };
  return { label: text ? `unknown adapter (${text})` : 'unknown adapter' };
}

/** The device memory to check against: the person's setting when set, else the adapter table's guess. */
export function deviceMemory(setting: number | null | undefined, info: GpuAdapterSummary | null | undefined): { bytes?: number; label: string; source: 'setting' | 'table' | 'unknown' } {
  const guess = deviceMemoryFromAdapter(info);
  if (typeof setting === 'number' && setting > 0) return { bytes: setting, label: `set by you; ${guess.label}`, source: 'setting' };
  return guess.bytes !== undefined ? { bytes: guess.bytes, label: guess.label, source: 'table' } : { label: guess.label, source: 'unknown' };
}
