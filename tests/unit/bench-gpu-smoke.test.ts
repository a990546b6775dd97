// The GPU benchmark's bundle (bench/gpu-bundle.ts → one ES module for Node) runs end to end on wasm: the same file
// that goes to the GPU box, where only the backend (Dawn's adapter) differs. A tiny shape (the wasm heap cannot hold
// Qwen3-0.6B); checks the one JSON line's shape and what must hold whatever the speed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGpuBundle } from '../../bench/gpu-bundle.ts';
import { flopsPerStep } from '../../bench/gpu.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'bench-gpu-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';

function runBundle(file: string, args: string[]): { code: number | null; line: Record<string, unknown>; stderr: string } {
  const r = spawnSync(process.execPath, [file, ...args], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1); // stdout is the one JSON line
  return { code: r.status, line: JSON.parse(lines[0]) as Record<string, unknown>, stderr: r.stderr };
}

describe('bench:gpu bundle', () => {
  it('trains composed and fused, full and LoRA, on wasm and prints one JSON line', async () => {
    const file = join(dir, 'gpu.mjs');
    const bytes = await buildGpuBundle(file);
    expect(bytes).toBeLessThan(4e6); // it travels to the GPU box
    const { code, line, stderr } = runBundle(file, ['--backend', 'wasm', '--preset', 'tiny', '--vocab', '512', '--batch', '2', '--seq', '16', '--warmup', '1', '--steps', '2', '--wasm-dir', wasmDir]);
    expect(code, stderr).toBe(0);
    expect(line).toMatchObject({ bench: 'gpu', backend: 'wasm', adapter: null, model: { preset: 'tiny', vocab: 512, hidden: 64 }, batch: 2, seq: 16 });
    const check = line.logits_check as { max_abs_diff: number; max_abs_logit: number };
    expect(check.max_abs_logit).toBeGreaterThan(0);
    expect(check.max_abs_diff).toBeLessThan(1e-4);
    const runs = line.runs as { variant: string; tokens_per_s: number; tflops: number; loss_first: number; loss_last: number; fused_active: boolean; peak_gpu_bytes: number | null; dispatches_per_step: number | null }[];
    expect(runs.map((r) => r.variant)).toEqual(['composed-lora', 'fused-lora', 'composed-full', 'fused-full']);
    for (const r of runs) {
      expect(r.tokens_per_s).toBeGreaterThan(0);
      expect(r.tflops).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(r.loss_first) && Number.isFinite(r.loss_last)).toBe(true);
      expect(r.loss_first).toBeCloseTo(Math.log(512), 0); // random weights: about ln V
      expect([r.fused_active, r.peak_gpu_bytes, r.dispatches_per_step]).toEqual([false, null, null]); // no GPU here
    }
    // Every variant starts from the same weights and batch: the first losses agree, and off webgpu fused = composed.
    expect(new Set(runs.map((r) => r.loss_first.toFixed(5))).size).toBe(1);
    expect(runs[1].loss_last).toBe(runs[0].loss_last);
    expect(runs[3].loss_last).toBe(runs[2].loss_last);
    expect(runs[2].loss_last).toBeLessThan(runs[2].loss_first); // full fine-tuning learns the batch
  });

  it('says why, in its JSON line, when Dawn or an adapter is missing', async () => {
    const file = join(dir, 'gpu.mjs');
    const { code, line } = runBundle(file, ['--backend', 'webgpu', '--webgpu-module', join(dir, 'no-such-webgpu.js')]);
    expect(code).toBe(2);
    expect(line.error).toMatch(/the "webgpu" package \(Dawn for Node\) did not load/);
    const bad = runBundle(file, ['--backend', 'metal']);
    expect([bad.code, bad.line.error]).toEqual([2, '--backend must be webgpu, wasm or cpu, got metal']);
  });
});

describe('flopsPerStep', () => {
  it('counts 6·N per token plus attention for full fine-tuning, and LoRA as 2/3 of the linears and head', () => {
    const c = presetConfig('qwen3-0.6b');
    const matrixParams = 28 * (1024 * 2048 + 2 * 1024 * 1024 + 2048 * 1024 + 3 * 1024 * 3072) + 1024 * 151936;
    const attention = 4 * 16 * 128 * 512 * 512 * 28; // per sequence, forward
    expect(flopsPerStep(c, 1, 512, false, false)).toBe(6 * matrixParams * 512 + 3 * attention);
    expect(flopsPerStep(c, 1, 512, true, false)).toBe(4 * matrixParams * 512 + 3 * attention);
    expect(flopsPerStep(c, 2, 512, false, true) - flopsPerStep(c, 2, 512, false, false)).toBe(2 * 512 * 2 * (matrixParams - 1024 * 151936) + 2 * attention);
  });
});
