/**
 * Wire records of the inference node API (paths and field names as the node that exists today
 * speaks them). Types only: shared by the client in src/remote and the companion server in server/.
 */
import type { ChatMessage } from '../engine/types.ts';
import type { AnswerOutcome } from '../profiles/outcome.ts';

export interface GpuInfo {
  available: boolean;
  device_count: number;
  device_name: string | null;
  memory_allocated_gb: number | null;
  memory_reserved_gb: number | null;
}
export interface Health {
  status: 'ok' | 'degraded';
  gpu: GpuInfo;
  active_model: string | null;
  worker_busy: boolean;
}
export interface VersionInfo {
  name: string;
  version: string;
  api: string;
}

export interface ModelRecord {
  id: string;
  path: string;
  source: string;
  created_at: string;
  tags: string[];
  is_active: boolean;
}
export interface ModelInfo {
  loaded: boolean;
  model_id: string | null;
  checkpoint_step: number | null;
  loaded_from: string | null;
  loaded_at: string | null;
}
export interface RegisterModelRequest {
  id: string;
  source: string;
  tags?: string[];
}

export interface ChatCompletionRequest {
  model?: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  stop?: string | string[];
  stream?: boolean;
}
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: number; message: ChatMessage; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: number; delta: { role?: 'assistant'; content?: string }; finish_reason: string | null }[];
}
export interface GenerateRequest {
  prompt: string;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
}
export interface GenerateResponse {
  text: string;
  model: string;
  tokens: number;
  stop_reason: string;
  ms: number;
}

export type JobType = 'eval' | 'data_gen';
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

export interface EvalJobRequest {
  model_id: string;
  name?: string;
  /** A dataset id from `POST /datasets`. */
  dataset_ref: string;
  /** Profile name whose `compare` judges answers; default `plain_sft`. */
  profile?: string;
  /** Of accuracy, loss, ece; default accuracy and loss. Accuracy and the loss are always computed; `ece` adds calibration. */
  metrics?: string[];
  max_samples?: number;
  per_example_logging?: boolean;
}
export interface EvalExampleResult {
  index: number;
  /** The conversation the model answered (without the golden assistant turn). */
  messages: ChatMessage[];
  prompt: string;
  expected: string;
  output: string;
  correct: boolean;
  score: number;
  loss: number;
  /** The profile's outcome: emoji_think's contract, regime3's right / wrong / decode failure (absent for plain_sft). */
  outcome?: AnswerOutcome;
}
export interface EvalResult {
  accuracy: number;
  total: number;
  correct: number;
  average_loss: number;
  profile: string;
  dataset_ref: string;
  /** The metrics the job was asked for. */
  metrics?: string[];
  /** With metric `ece`: expected calibration error of the golden answers' tokens (10 bins) over this many tokens. */
  ece?: number;
  ece_tokens?: number;
  /** Outcomes counted by label (profiles with outcomes: emoji_think, regime3). */
  outcomes?: Record<string, number>;
  examples?: EvalExampleResult[];
}

export type DataGenStrategy = 'self_instruct' | 'fix_eval_failures' | 'builtin';
export interface DataGenRequest {
  model_id: string;
  strategy: DataGenStrategy;
  config: {
    num_examples: number;
    /** self_instruct: seed topics; builtin: the task name; fix_eval_failures: the eval job id. */
    domain?: string;
    task?: string;
    eval_job_id?: string;
    max_tokens?: number;
    seed?: number;
    shard_size?: number;
  };
}
export interface DataGenShard {
  name: string;
  examples: number;
  /** Chat JSONL, one `{messages}` per line. */
  jsonl: string;
}
export interface DataGenResult {
  examples: number;
  shards: DataGenShard[];
}

export interface Job<R = EvalResult | DataGenResult> {
  id: string;
  type: JobType;
  status: JobStatus;
  model_id: string;
  params: Record<string, unknown>;
  result: R | null;
  error: string | null;
  progress: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}
export interface JobStats {
  pending: number;
  running: number;
  done: number;
  failed: number;
  jobs_last_hour: number;
}
export interface DatasetRecord {
  id: string;
  path: string;
  examples: number;
  bytes: number;
  created_at: string;
}

export interface SystemInfo {
  cpu_load: number[];
  cpu_count: number;
  ram_used_gb: number;
  ram_total_gb: number;
  ram_percent: number;
  disk: { path: string; total_gb: number; free_gb: number; used_percent: number }[];
}
export interface GpuTelemetry {
  name: string | null;
  driver: string | null;
  memory_used_gb: number | null;
  memory_total_gb: number | null;
  utilization_percent: number | null;
  temperature_c: number | null;
  power_w: number | null;
  fan_percent: number | null;
}
export type PowerProfile = 'quiet' | 'normal' | 'max';
export interface PowerProfileState {
  supported: boolean;
  profile: PowerProfile | null;
  message: string;
}
export interface LogLines {
  name: string;
  lines: string[];
}

/** OpenAI-style error body, sent with a real HTTP status. */
export interface ErrorBody {
  error: { message: string; type: string; code: string | null; param?: string | null };
}
