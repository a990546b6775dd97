/**
 * What went wrong, typed: every failure the daemon or the supervisor meets gets one kind, one sentence and what the
 * person can do about it, and a rule for who pays. Device-wide faults (out of memory, a lost GPU device, a full disk)
 * are nobody's file's fault: training pauses with the reason and no retry is burned. A non-finite run or bad data
 * fails the file at once (a retry would do the same); a config problem pauses before the file starts.
 */
import { ConfigError, TrainingError } from '../engine/errors.ts';
import { isQuotaError } from '../store/checkpoints.ts';

export type FailureKind = 'out_of_memory' | 'device_lost' | 'quota' | 'non_finite' | 'data' | 'config' | 'checkpoint' | 'internal';

/** The old daemon's crash classes, for the supervisor's restarts (a superset of what the loop classifies). */
export type CrashKind = 'out_of_memory' | 'device_lost' | 'disk_full' | 'timeout' | 'missing_file' | 'permission' | 'connection' | 'killed' | 'other';

/** The kind of a trainer failure, from its message (as the old daemon's crash classes). */
export function classifyCrash(message: string): CrashKind {
  const m = message.toLowerCase();
  if (/out of memory|\boom\b|failed to allocate|allocation failed|array buffer allocation|cannot allocate|memory access out of bounds/.test(m)) return 'out_of_memory';
  if (/device (is |was )?lost|devicelost|gpu device|context lost/.test(m)) return 'device_lost';
  if (/quota|disk full|no space/.test(m)) return 'disk_full';
  if (/timed? ?out|stall|no progress|did not start within/.test(m)) return 'timeout';
  if (/not found|missing|404|does not exist/.test(m)) return 'missing_file';
  if (/permission|notallowed|securityerror|denied/.test(m)) return 'permission';
  if (/network|fetch|connection/.test(m)) return 'connection';
  if (/terminated|killed/.test(m)) return 'killed';
  return 'other';
}

export interface Failure {
  kind: FailureKind;
  message: string;
  /** The device or the disk failed, not the file: pause, charge nothing. */
  deviceWide: boolean;
  /** What the person can do, one sentence. */
  action: string;
}

const ACTIONS: Record<FailureKind, string> = {
  out_of_memory: 'Lower the batch size or max length, or turn on gradient checkpointing or LoRA (the memory panel shows what fits), then Resume.',
  device_lost: 'The trainer restarts with a fresh GPU device; press Resume. If it happens again, check the GPU driver (chrome://gpu).',
  quota: 'Free space (delete checkpoints or finished queue items), then Resume.',
  non_finite: 'Lower the learning rate, or check the data and the model, then Retry the file.',
  data: 'Fix the file and drop it again.',
  config: 'Change the training config, then Resume.',
  checkpoint: 'It will be retried from the low queue; if it repeats, export and delete old checkpoints.',
  internal: 'It will be retried from the low queue; the event log has the details.',
};

/** The failure an error stands for. */
export function failureOf(e: unknown): Failure {
  const message = e instanceof Error ? e.message : String(e);
  const kind = kindOf(e, message);
  return { kind, message, deviceWide: kind === 'out_of_memory' || kind === 'device_lost' || kind === 'quota', action: ACTIONS[kind] };
}

function kindOf(e: unknown, message: string): FailureKind {
  if (isQuotaError(e)) return 'quota';
  if (e instanceof ConfigError) return 'config';
  if (e instanceof TrainingError) return e.kind === 'out_of_memory' ? 'out_of_memory' : e.kind;
  const crash = classifyCrash(message);
  if (crash === 'out_of_memory' || crash === 'device_lost') return crash;
  if (crash === 'disk_full') return 'quota';
  return 'internal';
}

/** What the worker tells the supervisor when its backend must be replaced (not a crash: no restart is counted). */
export const FRESH_BACKEND = 'fresh backend needed:';
