/**
 * getProfile options from a training config: the seed, and for regime3 the config's data mode (regime3.* fields)
 * with the model's codebook. Shared by the daemon, the train CLI and the inference node so all read the same fields.
 */
import type { TrainConfig } from '../engine/config/train-config.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';
import type { ProfileOptions } from './types.ts';

export function profileOptionsFrom(config: Pick<TrainConfig, 'seed' | 'regime3'>, codebook?: CodebookData): ProfileOptions {
  const r = config.regime3;
  return {
    seed: config.seed,
    regime3: codebook
      ? { codebook, mode: r.mode, plainRatio: r.plainRatio, plainRatioStart: r.plainRatioStart, plainRatioEnd: r.plainRatioEnd, transitionSteps: r.transitionSteps, encodePrompt: r.encodePrompt }
      : undefined,
  };
}
