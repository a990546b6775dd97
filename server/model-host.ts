/**
 * The node's loaded model: which registered model is in memory, loading and swapping it, and a
 * lock so that one generation or job step uses the engine at a time. The engine itself is behind
 * the `InferenceEngine` port (server/engine-adapter.ts implements it with src/engine).
 */
import type { ChatMessage, ChatTemplateKind, ChatTokenizer, LogitsProcessor } from '../src/engine/types.ts';
import type { ModelInfo } from '../src/remote/api.ts';
import { HttpError } from './http.ts';
import type { Registry } from './registry.ts';

export interface GenOptions {
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  timeLimitMs: number;
  seed?: number;
  processors?: LogitsProcessor[];
  signal?: AbortSignal;
  onText?: (delta: string) => void;
}
export interface GenOutput {
  text: string;
  promptTokens: number;
  completionTokens: number;
  stopReason: 'eos' | 'stop_string' | 'max_tokens' | 'time_limit' | 'aborted';
  ms: number;
}
export interface AnswerScore {
  loss: number;
  /** With calibration: per answer token, the probability given to the golden token and whether it was the top one. */
  tokens?: { confidence: Float32Array; correct: Uint8Array };
}
export interface InferenceModel {
  readonly checkpointStep: number | null;
  readonly tokenizer: ChatTokenizer;
  /** The chat template's prompt for `messages`, ending with the assistant generation prompt (default template: stock). */
  chatPrompt(messages: readonly ChatMessage[], template?: ChatTemplateKind): string;
  generate(prompt: string, opts: GenOptions): Promise<GenOutput>;
  /**
   * Teacher-forced mean cross-entropy of `answer` as the assistant's reply to `prompt` messages; with `calibration`,
   * also each answer token's probability and whether it was the model's top token (for ECE).
   */
  answerScore(prompt: readonly ChatMessage[], answer: string, template?: ChatTemplateKind, calibration?: boolean): Promise<AnswerScore>;
  dispose(): void;
}
export interface InferenceEngine {
  /** Throws (with the reason) when `dir` is not a model folder this engine can load. */
  validateFolder(dir: string): Promise<void>;
  load(dir: string): Promise<InferenceModel>;
}

/** A FIFO async lock. */
class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class ModelHost {
  private model: InferenceModel | null = null;
  private info: ModelInfo = { loaded: false, model_id: null, checkpoint_step: null, loaded_from: null, loaded_at: null };
  private readonly lock = new Lock();
  lastLoadError: string | null = null;

  constructor(
    readonly engine: InferenceEngine,
    private readonly registry: Registry,
    private readonly log: (line: string) => void,
  ) {}

  modelInfo(): ModelInfo {
    return { ...this.info };
  }

  /** Loads registered model `id` and makes it the one that answers (the previous one is disposed). */
  async load(id: string): Promise<ModelInfo> {
    const rec = this.registry.requireModel(id);
    return this.lock.run(async () => {
      let next: InferenceModel;
      try {
        next = await this.engine.load(rec.path);
      } catch (e) {
        this.lastLoadError = `Loading model "${id}" from ${rec.path} failed: ${(e as Error).message}`;
        this.log(this.lastLoadError);
        throw new HttpError(422, this.lastLoadError, 'model_load_error');
      }
      this.model?.dispose();
      this.model = next;
      this.lastLoadError = null;
      this.info = { loaded: true, model_id: id, checkpoint_step: next.checkpointStep, loaded_from: rec.path, loaded_at: new Date().toISOString() };
      this.log(`model ${id} loaded from ${rec.path}`);
      return this.modelInfo();
    });
  }

  /** Runs `fn` with the loaded model (`id` undefined or the loaded one), or a temporarily loaded other model. */
  async withModel<T>(id: string | undefined, fn: (m: InferenceModel, modelId: string) => Promise<T>): Promise<T> {
    if (id !== undefined && id !== this.info.model_id) {
      const rec = this.registry.requireModel(id);
      return this.lock.run(async () => {
        const m = await this.engine.load(rec.path);
        try {
          return await fn(m, id);
        } finally {
          m.dispose();
        }
      });
    }
    return this.lock.run(async () => {
      if (!this.model || !this.info.model_id) {
        throw new HttpError(503, 'No model is loaded: register one and POST /models/set_active first.', 'model_not_loaded');
      }
      return fn(this.model, this.info.model_id);
    });
  }

  /**
   * A job's access to model `id` one step at a time: each `run` holds the lock only for its step, so chat
   * requests interleave with long jobs. Steps use the loaded model while it is `id`; if another model is
   * activated meanwhile (or `id` is not loaded), the session loads its own copy once and frees it at the end.
   */
  async session<T>(id: string, fn: (run: <U>(step: (m: InferenceModel) => Promise<U>) => Promise<U>) => Promise<T>): Promise<T> {
    const rec = this.registry.requireModel(id);
    const own: { model: InferenceModel | null } = { model: null };
    try {
      return await fn((step) =>
        this.lock.run(async () => {
          if (!own.model && this.model && this.info.model_id === id) return step(this.model);
          own.model ??= await this.engine.load(rec.path);
          return step(own.model);
        }),
      );
    } finally {
      own.model?.dispose();
    }
  }

  dispose(): void {
    this.model?.dispose();
    this.model = null;
  }
}
