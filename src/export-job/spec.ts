/**
 * What an exported training job is made of (the JobSpec every generator here reads): the base model, the training
 * config, the chat template, the data files as written, and the tokens the profile adds. Pure data; no I/O.
 */
import type { TrainConfig } from '../engine/config/train-config.ts';
import type { ChatTemplateKind } from '../engine/types.ts';

export interface JobDataFile {
  /** Path inside the job folder, e.g. `data/train/01-arith.jsonl`. */
  path: string;
  /** The queue file it was made from. */
  source: string;
  examples: number;
}

export interface JobSpec {
  /** Folder-safe job name (the zip's top folder and the output folder's name). */
  name: string;
  /** The workbench model the job was exported from. */
  modelName: string;
  /** Hugging Face id or path of the model training starts from (the training config's baseModel). */
  baseModel: string;
  config: TrainConfig;
  /** `stock`: the tokenizer's own template (Qwen3's); `chatml`: plain ChatML without think blocks. */
  chatTemplate: ChatTemplateKind;
  train: JobDataFile[];
  /** Held-out examples of the same files (the workbench's validation split), or null when none are held out. */
  eval: JobDataFile | null;
  /** Tokens the profile adds to the tokenizer, in order (regime-3's codes and markers); empty for other profiles. */
  addedTokens: string[];
  /** Path of the regime-3 codebook inside the job folder, or null. */
  codebookFile: string | null;
  /** GPUs per machine the accelerate config is written for. */
  gpus: number;
}

/** A name usable as a folder and file name: letters, digits, `.`, `_`, `-`. */
export function slug(name: string): string {
  const s = name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return s.slice(0, 80) || 'job';
}

/** True for something a Hugging Face hub id looks like (`owner/name`) rather than a workbench preset name. */
export const looksLikeHubId = (ref: string): boolean => /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(ref) || ref.startsWith('/') || ref.startsWith('./');
