/**
 * The text files of an exported job (axolotl.yaml, sft.py, accelerate.yaml, README.md, job.json and, for profiles
 * that add tokens, added_tokens.json), from its JobSpec. The data files are written beside them by the caller.
 */
import type { CodebookData } from '../regime3/codebook-types.ts';
import { axolotlYaml } from './axolotl.ts';
import { jobReadme } from './readme.ts';
import type { JobSpec } from './spec.ts';
import { accelerateYaml, sftPy } from './trl.ts';

export { slug, looksLikeHubId, type JobSpec, type JobDataFile } from './spec.ts';
export { axolotlConfig, axolotlYaml } from './axolotl.ts';
export { JsonlSink, transformFile } from './data.ts';

/** Path of the codebook inside a job folder (the name checkpoint exports use too). */
export const JOB_CODEBOOK_FILE = 'regime3-codebook.json';

/** path → text of every generated file. */
export function jobTextFiles(spec: JobSpec, codebook?: CodebookData): Map<string, string> {
  const files = new Map<string, string>();
  files.set('README.md', jobReadme(spec));
  files.set('axolotl.yaml', axolotlYaml(spec));
  files.set('sft.py', sftPy(spec));
  files.set('accelerate.yaml', accelerateYaml(spec));
  if (spec.addedTokens.length) files.set('added_tokens.json', `${JSON.stringify(spec.addedTokens, null, 1)}\n`);
  if (codebook && spec.codebookFile) files.set(spec.codebookFile, `${JSON.stringify(codebook, null, 1)}\n`);
  const manifest = {
    format: 'workbench-training-job',
    version: 1,
    model: spec.modelName,
    baseModel: spec.baseModel,
    profile: spec.config.profile,
    chatTemplate: spec.chatTemplate,
    train: spec.train,
    eval: spec.eval,
    addedTokens: spec.addedTokens.length,
    trainConfig: spec.config,
  };
  files.set('job.json', `${JSON.stringify(manifest, null, 1)}\n`);
  return files;
}
