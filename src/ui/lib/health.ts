// The health panel's warnings, made from facts before trouble comes: each says what is wrong and the action to take.
// Pure: the clock, the storage numbers and the quota probe's answer are inputs, so tests need no browser.
import { formatBytes } from './format.ts';
import { countParameters } from '../../engine/memory-estimate.ts';
import type { ModelConfig } from '../../engine/types.ts';

export type HealthWarningKind = 'quota' | 'checkpoint-age' | 'not-persistent' | 'backup';

export interface HealthWarning {
  kind: HealthWarningKind;
  /** What is wrong, one sentence. */
  message: string;
  /** What to do about it. */
  action: string;
}

export interface HealthFacts {
  now: number;
  /** navigator.storage.estimate() and persisted() (Chromium reports usage + a fixed 10 GiB, not the enforced quota). */
  storage?: { usage: number; quota: number; persisted: boolean };
  /** Size of the next checkpoint: the latest one's, else the model's weights and Adam moments. */
  nextCheckpointBytes?: number;
  /** Whether that many bytes fit under the enforced quota now (the probe); undefined where unknown. */
  nextCheckpointFits?: boolean;
  /** The daemon trains (or prepares to) since this time; undefined when it does not. */
  trainingSince?: number;
  /** Creation time of the active model's latest checkpoint. */
  lastCheckpointAt?: number;
  /** Creation time of its oldest checkpoint: what a lost profile would take with it. */
  oldestCheckpointAt?: number;
  /** The last successful backup (settings `backup.lastAt`); undefined: never backed up. */
  lastBackupAt?: number;
}

export interface HealthLimits {
  /** Config healthCheckpointHours. */
  checkpointHours: number;
  /** Config healthBackupDays. */
  backupDays: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const ago = (ms: number) => (ms >= 2 * DAY_MS ? `${Math.floor(ms / DAY_MS)} days` : `${Math.floor(ms / HOUR_MS)} hours`);

/** Every warning that applies now, in the order of urgency (quota first). */
export function healthWarnings(f: HealthFacts, limits: HealthLimits): HealthWarning[] {
  const out: HealthWarning[] = [];
  const next = f.nextCheckpointBytes;
  if (next !== undefined && next > 0) {
    const free = f.storage && f.storage.quota > 0 ? f.storage.quota - f.storage.usage : undefined;
    if (f.nextCheckpointFits === false || (free !== undefined && free < next)) {
      out.push({
        kind: 'quota',
        message: `The next checkpoint (about ${formatBytes(next)}) does not fit in the storage left to this page${free !== undefined && free < next ? ` (${formatBytes(free)} free)` : ''}: training would pause when it is written.`,
        action: 'Delete checkpoints you do not need (unpinned, older ones) or free disk space, then check again.',
      });
    }
  }
  if (f.trainingSince !== undefined) {
    const since = Math.max(f.trainingSince, f.lastCheckpointAt ?? 0);
    if (f.now - since > limits.checkpointHours * HOUR_MS) {
      out.push({
        kind: 'checkpoint-age',
        message: `No checkpoint for ${ago(f.now - since)} of training (the limit is ${limits.checkpointHours} hours): a crash now loses all of it.`,
        action: 'Stop training (it saves a checkpoint), or lower saveSteps / checkpointEveryMinutes in the training config.',
      });
    }
  }
  if (f.storage && !f.storage.persisted) {
    out.push({
      kind: 'not-persistent',
      message: 'Storage is not persistent: the browser may delete the checkpoints and data when the disk runs low.',
      action: 'Click "Make storage persistent" (Chrome grants it to a bookmarked or installed page), or back up.',
    });
  }
  const base = f.lastBackupAt ?? f.oldestCheckpointAt;
  if (base !== undefined && f.now - base > limits.backupDays * DAY_MS) {
    out.push({
      kind: 'backup',
      message: f.lastBackupAt === undefined ? `Never backed up, with checkpoints ${ago(f.now - base)} old.` : `No backup for ${ago(f.now - base)} (the limit is ${limits.backupDays} days).`,
      action: 'Make a backup now.',
    });
  }
  return out;
}

/**
 * The size of the model's next checkpoint: the latest one's (on the current line), else, before the first, its
 * weights in f32 plus Adam's two moments (weights only with LoRA, whose adapter and moments are small).
 */
export function nextCheckpointBytes(checkpoints: readonly { bytes: number; createdAt: number; abandonedAt?: number }[], model: ModelConfig | undefined, lora: boolean): number | undefined {
  const current = checkpoints.filter((c) => c.abandonedAt === undefined);
  const latest = (current.length ? current : checkpoints).reduce<{ bytes: number; createdAt: number } | undefined>((a, c) => (a === undefined || c.createdAt > a.createdAt ? c : a), undefined);
  if (latest) return latest.bytes;
  return model ? countParameters(model) * 4 * (lora ? 1 : 3) : undefined;
}
