/**
 * Registry of data profiles: `getProfile(name, options)` builds one, `profileNames` lists them and
 * `profileCatalog` describes them without building (regime3 needs a codebook to be built).
 * Adding a profile means adding a file here and one entry to `registry`; no engine file changes.
 */
import { ConfigError } from '../engine/errors.ts';
import type { ChatTemplateKind } from '../engine/types.ts';
import { EMOJI_THINK_INFO, createEmojiThink } from './emoji-think.ts';
import { PLAIN_SFT_INFO, createPlainSft } from './plain-sft.ts';
import { REGIME3_INFO, createRegime3 } from './regime3.ts';
import type { Profile, ProfileOptions } from './types.ts';

export type { Profile, ProfileOptions, CompareResult, ProcessorStats, ProfileProcessors, TransformContext, ProfileIssue, Regime3Options, Regime3Mode } from './types.ts';

export interface ProfileInfo {
  name: string;
  description: string;
  version: string;
  chatTemplate: ChatTemplateKind;
  /** Options getProfile must be given for this profile. */
  requires: readonly (keyof ProfileOptions)[];
}

const registry: { info: ProfileInfo; create: (options: ProfileOptions) => Profile }[] = [
  { info: { ...PLAIN_SFT_INFO, requires: [] }, create: createPlainSft },
  { info: { ...EMOJI_THINK_INFO, requires: [] }, create: createEmojiThink },
  { info: { ...REGIME3_INFO, requires: ['regime3'] }, create: createRegime3 },
];

/** Names accepted by getProfile, in display order. */
export const profileNames: readonly string[] = registry.map((r) => r.info.name);

/** Name, description, version, chat template and required options of every profile. */
export const profileCatalog: readonly ProfileInfo[] = registry.map((r) => r.info);

/** Builds the profile `name`; an unknown name is a ConfigError listing the valid ones. */
export function getProfile(name: string, options: ProfileOptions = {}): Profile {
  const entry = registry.find((r) => r.info.name === name);
  if (!entry) {
    throw new ConfigError(`unknown profile "${name}"; expected one of: ${profileNames.join(', ')}`, 'profile', profileNames.join(', '));
  }
  return entry.create(options);
}
