/**
 * Registry of data profiles: `getProfile(name, options)` builds one, `profileNames` lists them.
 * Adding a profile means adding a file here and one line to `factories`; no engine file changes.
 */
import { ConfigError } from '../engine/errors.ts';
import { createEmojiThink } from './emoji-think.ts';
import { createPlainSft } from './plain-sft.ts';
import { createRegime3 } from './regime3.ts';
import type { Profile, ProfileOptions } from './types.ts';

export type { Profile, ProfileOptions, CompareResult, ProcessorStats, ProfileProcessors, TransformContext, ProfileIssue, Regime3Options, Regime3Mode } from './types.ts';

const factories: Record<string, (options: ProfileOptions) => Profile> = {
  plain_sft: createPlainSft,
  emoji_think: createEmojiThink,
  regime3: createRegime3,
};

/** Names accepted by getProfile, in display order. */
export const profileNames: readonly string[] = Object.keys(factories);

/** Builds the profile `name`; an unknown name is a ConfigError listing the valid ones. */
export function getProfile(name: string, options: ProfileOptions = {}): Profile {
  const factory = Object.hasOwn(factories, name) ? factories[name] : undefined;
  if (!factory) {
    throw new ConfigError(`unknown profile "${name}"; expected one of: ${profileNames.join(', ')}`, 'profile', profileNames.join(', '));
  }
  return factory(options);
}
