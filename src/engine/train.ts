/**
 * The trainer: `runJob(job, hooks)` runs optimizer steps over one file's examples (gradient accumulation,
 * AdamW, global-norm clipping, a pure lr(step) schedule, chunked LM-head loss), calls hooks at step, log,
 * eval and checkpoint boundaries, and returns plain, serialisable state so the next file or a resumed run
 * continues exactly. Reads the device only at log, eval and checkpoint intervals.
 */
import type { CausalLM, ExampleSource, StepMetrics, StepDecision, ModelConfig } from './types.ts';
import type { TrainConfig } from './config/train-config.ts';
import type { AdamW, NamedArray, OptimizerState } from './optimizer.ts';
import type { LoraAdapter } from './lora.ts';

// ---------------------------------------------------------------- job, hooks, state, snapshot, result

/** Where a job is in its file and in the whole run. Plain data: JSON- and structured-clone-safe. */
export interface TrainerState {
  /** Optimizer steps taken, cumulative across files (skipped non-finite steps count too). */
  globalStep: number;
  /** Optimizer steps taken in this file. */
  fileStep: number;
  /** Optimizer steps this file has in total. */
  fileSteps: number;
  /** Micro-batches of the current epoch's plan already consumed. */
  dataPosition: number;
  /** Epoch (pass over the file) the plan is in; the plan is a pure function of (seed, epoch). */
  epoch: number;
  /** Rng state (LoRA dropout). */
  rngState: number;
  /** Trained target tokens seen in this run, cumulative across files. */
  tokensSeen: number;
  /** Steps skipped because the loss or a gradient was not finite, cumulative. */
  nonFiniteSkipped: number;
  /** Non-finite steps in a row at the last read. */
  consecutiveNonFinite: number;
  /** Lowest validation loss seen so far, null before the first evaluation. */
  bestValLoss: number | null;
}

export interface TrainJob {
  model: CausalLM;
  /** The file's training examples (already transformed by the profile and tokenized). */
  source: ExampleSource;
  /** Held-out examples for the validation loss every `config.evalSteps`. */
  validation?: ExampleSource;
  config: TrainConfig;
  /** Token id used to pad rows (`<|endoftext|>`). */
  padTokenId: number;
  /** Resume: the state of a snapshot of this file (weights and optimizer restored by the caller). */
  state?: TrainerState;
  /** Carried across files (and restored from a snapshot with `importState`); created when absent. */
  optimizer?: AdamW;
  /** With `config.lora.enabled`: the adapter carried across files; created when absent. */
  lora?: LoraAdapter;
  /** Optimizer steps for this file; else `epochs` (or config.epochs) passes over it. */
  steps?: number;
  epochs?: number;
  /** Global step the file starts at when there is no `state` (cumulative across files). */
  startGlobalStep?: number;
  /** Tokens seen before this file when there is no `state`. */
  startTokensSeen?: number;
}

/** What a log interval reports: StepMetrics with the loss and grad norm read from the device. */
export interface LogMetrics extends StepMetrics {
  loss: number;
  gradNorm: number;
  nonFiniteSkipped: number;
}

export interface EvalResult {
  step: number;
  valLoss: number;
  /** Trained target tokens the loss is averaged over. */
  tokens: number;
  ms: number;
}

/** One checkpoint as plain data: enough to resume exactly, and to export a Hugging Face folder. */
export interface TrainSnapshot {
  step: number;
  state: TrainerState;
  config: TrainConfig;
  modelConfig: ModelConfig;
  /** Base weights by Hugging Face name in Hugging Face layout ([out, in] for linears). */
  weights: NamedArray[];
  /** LoRA tensors by PEFT name (HF layout: A [r, in], B [out, r]), when LoRA is enabled. */
  adapter?: NamedArray[];
  optimizer: OptimizerState;
}

export interface TrainHooks {
  /** Before every optimizer step; 'stop' ends the job at this boundary. Pause by awaiting here. */
  beforeStep?(state: Readonly<TrainerState>): StepDecision | Promise<StepDecision>;
  /** After every step; `loss`/`gradNorm` are null except at log intervals. */
  onStep?(m: StepMetrics): void | Promise<void>;
  /** Every `config.logEvery` steps and at the last step. */
  onLog?(m: LogMetrics): void | Promise<void>;
  /** Every `config.evalSteps` steps when the job has a validation source. */
  onEval?(e: EvalResult): void | Promise<void>;
  /** Every `config.sampleEvery` (see sampleInterval) steps, between steps: generate a sample answer here. */
  onSample?(state: Readonly<TrainerState>): void | Promise<void>;
  /** Every `config.saveSteps` steps and when the job ends (done or stopped). */
  onCheckpoint?(snap: TrainSnapshot): void | Promise<void>;
}

export interface JobResult {
  /** 'completed': all the file's steps ran; 'stopped': beforeStep said stop. */
  status: 'completed' | 'stopped';
  state: TrainerState;
  optimizer: AdamW;
  lora?: LoraAdapter;
  /** Loss of the last log interval, null when none was read. */
  lastLoss: number | null;
}
