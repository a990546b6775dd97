/** The exported job's README.md: what the folder holds and the commands that run it with Axolotl or TRL/accelerate. */
import { looksLikeHubId, type JobSpec } from './spec.ts';
import { outputDir } from './axolotl.ts';

export function jobReadme(spec: JobSpec): string {
  const c = spec.config;
  const trainCount = spec.train.reduce((n, f) => n + f.examples, 0);
  const lines = [
    `# Training job: ${spec.modelName}`,
    '',
    `Exported by the training workbench: the data as the \`${c.profile}\` profile transforms it, and the same`,
    `training numbers for Axolotl and for TRL. Output goes to \`${outputDir(spec)}\`.`,
    '',
    '| file | what |',
    '| --- | --- |',
    ...spec.train.map((f) => `| \`${f.path}\` | ${f.examples} training examples from ${f.source} (chat-format JSONL, \`{"messages": [...]}\`) |`),
    ...(spec.eval ? [`| \`${spec.eval.path}\` | ${spec.eval.examples} held-out examples (the workbench's validation split) |`] : []),
    ...(spec.codebookFile ? [`| \`${spec.codebookFile}\` | the model's regime-3 codebook (decodes the coded answers) |`] : []),
    ...(spec.addedTokens.length ? [`| \`added_tokens.json\` | the ${spec.addedTokens.length} tokens the profile adds, in order (also \`tokens:\` in axolotl.yaml) |`] : []),
    '| `axolotl.yaml` | Axolotl config |',
    '| `sft.py`, `accelerate.yaml` | TRL SFTTrainer script and an accelerate config for several GPUs |',
    '| `job.json` | the workbench\'s training config and where every file came from |',
    '',
    `${trainCount} training examples; sequence length ${c.maxLength}; micro-batch ${c.batchSize} × accumulation ${c.gradAccumSteps} per GPU;`,
    `learning rate ${c.learningRate} (${c.schedule} after ${c.warmupSteps} warmup steps); ${c.lora.enabled ? `LoRA r=${c.lora.rank}, alpha=${c.lora.alpha} on ${c.lora.targetModules.join(', ')}` : 'full fine-tune'}; ${c.epochs} epoch${c.epochs === 1 ? '' : 's'}.`,
    '',
  ];
  if (!looksLikeHubId(spec.baseModel)) {
    lines.push(
      `**Base model:** \`${spec.baseModel}\` is a workbench preset, not a Hugging Face model. Export the model from the`,
      'workbench (a checkpoint\'s Export: a Hugging Face folder) and put that folder\'s path in `base_model:` of',
      'axolotl.yaml and `"base_model"` in sft.py.',
      '',
    );
  } else {
    lines.push(
      `**Base model:** \`${spec.baseModel}\`. To continue from the workbench's weights instead, export a checkpoint as a`,
      'Hugging Face folder and put its path in `base_model:` (axolotl.yaml) and `"base_model"` (sft.py).',
      '',
    );
  }
  lines.push(
    '## Axolotl',
    '',
    '```sh',
    'pip install axolotl',
    'axolotl preprocess axolotl.yaml      # tokenizes the datasets once (optional)',
    'axolotl train axolotl.yaml           # all GPUs of this machine (accelerate)',
    '```',
    '',
    '## TRL with accelerate',
    '',
    '```sh',
    'pip install "trl>=0.20" peft datasets accelerate',
    'accelerate launch --config_file accelerate.yaml sft.py',
    '```',
    '',
    `\`accelerate.yaml\` is written for ${spec.gpus} GPUs on one machine: set \`num_processes\` to yours.`,
    '',
    '## Differences from the workbench',
    '',
    '- Batch size and accumulation are per GPU: on N GPUs the global batch is N times the workbench\'s; divide',
    '  `gradient_accumulation_steps` by N to keep it.',
    '- The workbench decays a linear or cosine schedule over each file\'s steps and carries the step across files;',
    '  here the schedule runs once over the whole job (constant after warmup stays constant).',
    '- The data is written as the profile transformed it when exported (a regime-3 transitional mix is fixed at the',
    '  step each file started at, or would start at).',
    '- A mixed queue item is written as its files, one dataset each: the mix\'s ratios and interleaving are not kept.',
    '- TRL puts the loss on the last assistant turn only (prompt/completion); Axolotl, like the workbench, on every',
    '  assistant turn.',
  );
  if (spec.addedTokens.length && c.lora.enabled) {
    lines.push('- With LoRA and added tokens, the embedding and LM head are trained whole (`lora_modules_to_save`), so the new tokens learn.');
  }
  return lines.join('\n') + '\n';
}
