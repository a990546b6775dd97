/**
 * The commands' `--backend wasm|cpu` flag and how a command starts TF.js for a model: the model's config.json is
 * read first and the capacity rule (src/engine/capacity.ts) decides before any weight loads, so a model too big
 * for the wasm heap is refused (asked for wasm) or runs on cpu (no flag: wasm, else cpu) instead of computing
 * wrong numbers.
 */
import { totalmem } from 'node:os';
import { CliError, flag, type ParsedArgs } from './args.ts';
import { initNodeBackend } from '../engine/backend-node.ts';
import type { BackendChoice } from '../engine/backend.ts';
import { checkCapacity, formatGiB, type Workload } from '../engine/capacity.ts';
import { readModelConfig } from '../engine/checkpoint.ts';
import { nodeFolder } from '../engine/node-folder.ts';
import { CheckpointError, ConfigError } from '../engine/errors.ts';
import type { ModelConfig } from '../engine/types.ts';

/** Backends a command can be asked for (Node has no WebGPU here). */
export const CLI_BACKENDS = ['wasm', 'cpu'] as const;
export type CliBackend = (typeof CLI_BACKENDS)[number];
export const BACKEND_USAGE = '[--backend wasm|cpu]';

/** The --backend value, or undefined when absent (wasm, else cpu); anything else is a usage error listing the valid ones. */
export function backendFlag(args: ParsedArgs): CliBackend | undefined {
  const v = flag(args, 'backend');
  if (v === undefined) return undefined;
  if (!(CLI_BACKENDS as readonly string[]).includes(v)) throw new CliError(`--backend must be one of: ${CLI_BACKENDS.join(', ')}; got "${v}"`, 2);
  return v as CliBackend;
}

/** config.json of a model folder; a missing or bad folder is one sentence naming it. */
export async function readConfigFromDir(dir: string): Promise<ModelConfig> {
  try {
    return await readModelConfig(nodeFolder(dir));
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof ConfigError) throw new CliError(`model folder ${dir}: ${e.message}`);
    throw e;
  }
}

/**
 * Starts the backend that will run `workload` on a model with `config`. Asked for one: it, or a CliError with the
 * capacity rule's sentence when it cannot hold the model. Not asked: wasm when it can hold the model, else cpu
 * (the reason says why wasm was passed over).
 */
export async function startBackend(asked: CliBackend | undefined, config: ModelConfig, workload: Workload): Promise<BackendChoice> {
  const cpuBytes = totalmem();
  const fits = (b: CliBackend) => checkCapacity(config, workload, b, { deviceBytes: b === 'cpu' ? cpuBytes : undefined, instead: b === 'cpu' ? 'a smaller model, LoRA or shorter sequences' : undefined });
  if (asked) {
    const v = fits(asked);
    if (!v.ok) throw new CliError(v.message!);
    return initNodeBackend([asked]);
  }
  const wasm = fits('wasm');
  if (wasm.ok) return initNodeBackend(['wasm', 'cpu']);
  const cpu = fits('cpu');
  if (!cpu.ok) throw new CliError(cpu.message!);
  const choice = await initNodeBackend(['cpu']);
  return { ...choice, reason: `cpu (passed over wasm: this needs ~${formatGiB(wasm.need.totalBytes)}, more than the ${formatGiB(wasm.limitBytes!)} the wasm heap holds safely)` };
}
