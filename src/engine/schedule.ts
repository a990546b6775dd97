/**
 * The learning-rate schedule as a pure function: linear warmup on the global step (once per run), then
 * constant (continuous training, where the total keeps growing), or linear / cosine decay over the file's steps.
 */
import type { TrainConfig } from './config/train-config.ts';

export interface ScheduleInput {
  /** 0-based global step being taken. */
  globalStep: number;
  /** 0-based step within the file. */
  fileStep: number;
  fileSteps: number;
}

export function lr(at: ScheduleInput, cfg: Pick<TrainConfig, 'learningRate' | 'warmupSteps' | 'schedule'>): number {
  const peak = cfg.learningRate;
  const warm = cfg.warmupSteps > 0 && at.globalStep < cfg.warmupSteps ? (at.globalStep + 1) / (cfg.warmupSteps + 1) : 1;
  const progress = Math.min(1, Math.max(0, at.fileStep / Math.max(1, at.fileSteps)));
  switch (cfg.schedule) {
    case 'constant':
      return peak * warm;
    case 'linear':
      return peak * warm * (1 - progress);
    case 'cosine':
      return peak * warm * 0.5 * (1 + Math.cos(Math.PI * progress));
  }
}
