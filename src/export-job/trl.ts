/**
 * The job for TRL: `sft.py` (SFTTrainer on the exported JSONL with the workbench's numbers, LoRA through PEFT or a
 * full fine-tune, the profile's added tokens) and `accelerate.yaml` (one machine, several GPUs, bf16, DDP).
 */
import { CHATML_TEMPLATE } from '../engine/tokenizer.ts';
import { outputDir } from './axolotl.ts';
import type { JobSpec } from './spec.ts';

/** transformers' scheduler names for ours (constant after warmup, linear or cosine decay). */
const SCHEDULER = { constant: 'constant_with_warmup', linear: 'linear', cosine: 'cosine' } as const;

/** A Python literal of a JSON-safe value (JSON is valid Python but for true/false/null). */
function py(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  if (Array.isArray(v)) return `[${v.map(py).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${py(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

export function sftPy(spec: JobSpec): string {
  const c = spec.config;
  const job = {
    base_model: spec.baseModel,
    train_files: spec.train.map((f) => f.path),
    eval_file: spec.eval?.path ?? null,
    chat_template: spec.chatTemplate === 'chatml' ? CHATML_TEMPLATE : null,
    added_tokens: spec.addedTokens.length ? 'added_tokens.json' : null,
    lora: c.lora.enabled ? { r: c.lora.rank, lora_alpha: c.lora.alpha, lora_dropout: c.lora.dropout, target_modules: [...c.lora.targetModules] } : null,
  };
  const args = {
    output_dir: outputDir(spec),
    max_length: c.maxLength,
    packing: c.pack,
    group_by_length: !c.pack && c.bucketByLength,
    per_device_train_batch_size: c.batchSize,
    per_device_eval_batch_size: c.batchSize,
    gradient_accumulation_steps: c.gradAccumSteps,
    num_train_epochs: c.epochs,
    learning_rate: c.learningRate,
    lr_scheduler_type: SCHEDULER[c.schedule],
    warmup_steps: c.warmupSteps,
    weight_decay: c.weightDecay,
    adam_beta1: c.beta1,
    adam_beta2: c.beta2,
    adam_epsilon: c.adamEps,
    max_grad_norm: c.maxGradNorm,
    seed: c.seed,
    logging_steps: c.logEvery,
    eval_strategy: spec.eval && c.evalSteps > 0 ? 'steps' : 'no',
    ...(spec.eval && c.evalSteps > 0 ? { eval_steps: c.evalSteps } : {}),
    save_strategy: c.saveSteps > 0 ? 'steps' : 'epoch',
    ...(c.saveSteps > 0 ? { save_steps: c.saveSteps } : {}),
    gradient_checkpointing: c.gradientCheckpointing,
    bf16: true,
    report_to: 'none',
  };
  return `# TRL supervised fine-tuning of "${spec.modelName}", exported by the training workbench.
# Run on one machine with several GPUs:  accelerate launch --config_file accelerate.yaml sft.py
# Needs: pip install "trl>=0.20" peft datasets accelerate   (see README.md)
import json

from datasets import load_dataset
from tokenizers import AddedToken
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

JOB = ${py(job)}
ARGS = ${py(args)}


def prompt_completion(example):
    """The loss falls on the last assistant turn only (the workbench's answer mask); earlier turns are the prompt."""
    messages = example["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return {"prompt": messages[:last], "completion": [messages[last]]}


def main():
    tokenizer = AutoTokenizer.from_pretrained(JOB["base_model"])
    if JOB["chat_template"]:
        tokenizer.chat_template = JOB["chat_template"]
    model = AutoModelForCausalLM.from_pretrained(JOB["base_model"], torch_dtype="bfloat16")
    if JOB["added_tokens"]:
        # the profile's tokens, in the workbench's order, so each gets the id it was trained with
        with open(JOB["added_tokens"]) as f:
            tokens = json.load(f)
        tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in tokens])
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))

    files = {"train": JOB["train_files"]}
    if JOB["eval_file"]:
        files["test"] = JOB["eval_file"]
    data = load_dataset("json", data_files=files)
    data = data.map(prompt_completion, remove_columns=["messages"])

    peft_config = None
    if JOB["lora"]:
        from peft import LoraConfig

        peft_config = LoraConfig(
            task_type="CAUSAL_LM",
            modules_to_save=["embed_tokens", "lm_head"] if JOB["added_tokens"] else None,
            **JOB["lora"],
        )

    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(completion_only_loss=True, **ARGS),
        train_dataset=data["train"],
        eval_dataset=data.get("test"),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(ARGS["output_dir"])
    tokenizer.save_pretrained(ARGS["output_dir"])


if __name__ == "__main__":
    main()
`;
}

/** accelerate's config for one machine with `spec.gpus` GPUs (what `accelerate config` writes for multi-GPU DDP). */
export function accelerateYaml(spec: JobSpec): string {
  return `# accelerate config: one machine, ${spec.gpus} GPUs, data parallel, bf16. Change num_processes to your GPU count.
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 1
machine_rank: 0
num_processes: ${spec.gpus}
gpu_ids: all
mixed_precision: bf16
main_training_function: main
rdzv_backend: static
same_network: true
use_cpu: false
downcast_bf16: 'no'
`;
}
