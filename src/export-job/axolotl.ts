/**
 * The job's `axolotl.yaml`: the workbench's training config in Axolotl's option names (chat-template datasets of
 * the exported JSONL, sequence length, batch and accumulation, AdamW and the learning-rate schedule, LoRA or a
 * full fine-tune, the held-out split as test_datasets, the added tokens). Keys are Axolotl's documented options only
 * (tests/fixtures/axolotl/config-options.json lists them, with their source).
 */
import { stringify } from 'yaml';
import type { LrSchedule } from '../engine/config/train-config.ts';
import type { JobDataFile, JobSpec } from './spec.ts';

/** Our schedules in transformers' names: ours is constant after warmup, linear or cosine decay after it. */
export const AXOLOTL_SCHEDULER: Record<LrSchedule, string> = { constant: 'constant_with_warmup', linear: 'linear', cosine: 'cosine' };

/** Output folder of the job (relative to where it runs). */
export const outputDir = (spec: JobSpec): string => `./outputs/${spec.name}`;

function dataset(f: JobDataFile): Record<string, unknown> {
  return {
    path: f.path,
    ds_type: 'json',
    split: 'train',
    type: 'chat_template',
    field_messages: 'messages',
    message_property_mappings: { role: 'role', content: 'content' },
    // as the workbench trains: loss on every assistant turn and its closing <|im_end|>, never on the prompt
    roles_to_train: ['assistant'],
    train_on_eos: 'turn',
  };
}

/** The config as an object (key order is the YAML's). */
export function axolotlConfig(spec: JobSpec): Record<string, unknown> {
  const c = spec.config;
  const out: Record<string, unknown> = {
    base_model: spec.baseModel,
    // stock: the tokenizer's own template (Qwen3's, empty think block on the answer); chatml: plain ChatML
    chat_template: spec.chatTemplate === 'stock' ? 'tokenizer_default' : 'chatml',
    datasets: spec.train.map(dataset),
    dataset_prepared_path: `./prepared/${spec.name}`,
  };
  if (spec.eval) out.test_datasets = [dataset(spec.eval)];
  out.val_set_size = 0;
  out.output_dir = outputDir(spec);

  out.sequence_len = c.maxLength;
  out.sample_packing = c.pack;
  if (c.pack) out.pad_to_sequence_len = true;
  else out.group_by_length = c.bucketByLength;
  out.train_on_inputs = false;

  if (c.lora.enabled) {
    out.adapter = 'lora';
    out.lora_r = c.lora.rank;
    out.lora_alpha = Math.round(c.lora.alpha);
    out.lora_dropout = c.lora.dropout;
    out.lora_target_modules = [...c.lora.targetModules];
    // new token rows must learn: train the embedding and the LM head whole beside the adapters
    if (spec.addedTokens.length) out.lora_modules_to_save = ['embed_tokens', 'lm_head'];
  }
  if (spec.addedTokens.length) out.tokens = [...spec.addedTokens];

  out.micro_batch_size = c.batchSize;
  out.gradient_accumulation_steps = c.gradAccumSteps;
  out.num_epochs = c.epochs;
  out.optimizer = 'adamw_torch';
  out.learning_rate = c.learningRate;
  out.lr_scheduler = AXOLOTL_SCHEDULER[c.schedule];
  out.warmup_steps = c.warmupSteps;
  out.weight_decay = c.weightDecay;
  out.adam_beta1 = c.beta1;
  out.adam_beta2 = c.beta2;
  out.adam_epsilon = c.adamEps;
  if (c.maxGradNorm > 0) out.max_grad_norm = c.maxGradNorm;
  out.seed = c.seed;

  out.bf16 = 'auto';
  out.gradient_checkpointing = c.gradientCheckpointing;
  out.logging_steps = c.logEvery;
  if (spec.eval && c.evalSteps > 0) out.eval_steps = c.evalSteps;
  else out.eval_strategy = 'no';
  if (c.saveSteps > 0) out.save_steps = c.saveSteps;
  else out.save_strategy = 'epoch';
  out.save_safetensors = true;
  return out;
}

export function axolotlYaml(spec: JobSpec): string {
  const head = [
    `# Axolotl config of "${spec.modelName}", exported by the training workbench.`,
    `# Run: axolotl preprocess axolotl.yaml && axolotl train axolotl.yaml   (see README.md)`,
    '',
  ].join('\n');
  // PyYAML (which Axolotl reads with) takes `1e-8` for a string: YAML 1.1 wants a dot in the mantissa
  const body = stringify(axolotlConfig(spec), { lineWidth: 0 }).replace(/^(\s*[\w.-]+: )(-?\d+)e([-+]?\d+)$/gm, '$1$2.0e$3');
  return head + body;
}
