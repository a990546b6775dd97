/**
 * The InferenceEngine port implemented with this project's engine: model folders read with the
 * checkpoint rules (config.json, safetensors, tokenizer files), Qwen3Model on the fastest Node
 * backend (wasm, else cpu; INFERENCE_BACKEND=wasm|cpu picks one), KV-cached generation and the chunked
 * LM-head loss for eval. Every load and every request is checked first against what the backend can hold
 * (src/engine/capacity.ts, counting the other models loaded), so a model or request too big for the wasm heap
 * is refused with the reason instead of answered wrongly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadModel, readModelConfig, type FolderReader } from '../src/engine/checkpoint.ts';
import { nodeFolder } from '../src/engine/node-folder.ts';
import { initNodeBackend } from '../src/engine/backend-node.ts';
import { generate } from '../src/engine/generate.ts';
import { lmHeadLoss, IGNORE_INDEX } from '../src/engine/loss.ts';
import { singleSequence, type Qwen3Model } from '../src/engine/model.ts';
import { loadTokenizer } from '../src/engine/tokenizer.ts';
import { CheckpointError } from '../src/engine/errors.ts';
import { capacityNeed, checkCapacity, formatGiB, type Workload } from '../src/engine/capacity.ts';
import type { BackendName } from '../src/engine/backend.ts';
import type { ChatMessage, ChatTemplateKind, ChatTokenizer, ModelConfig } from '../src/engine/types.ts';
import type { AnswerScore, GenOptions, GenOutput, InferenceEngine, InferenceModel } from './model-host.ts';
import { HttpError } from './http.ts';
import { totalmem } from 'node:os';

let backendReady: Promise<string> | null = null;

/** The backend chain: INFERENCE_BACKEND (wasm or cpu) alone when set, else wasm then cpu. */
export function backendPreference(env: string | undefined = process.env.INFERENCE_BACKEND): BackendName[] {
  if (env === undefined || env === '') return ['wasm', 'cpu'];
  if (env !== 'wasm' && env !== 'cpu') throw new Error(`INFERENCE_BACKEND must be one of: wasm, cpu; got "${env}"`);
  return [env];
}

/** Starts the Node backend once (INFERENCE_BACKEND, else wasm falling back to cpu). */
export function ensureNodeBackend(): Promise<string> {
  backendReady ??= Promise.resolve().then(() => initNodeBackend(backendPreference())).then((c) => c.name);
  return backendReady;
}

/** Models alive in this process with what they hold on the backend (weights and, on wasm, packed copies). */
const live = new Map<object, number>();
const heldBytes = (c: ModelConfig, backend: string) => {
  const n = capacityNeed(c, { kind: 'inference', tokens: 1 }, backend);
  return n.weightsBytes + n.packedBytes;
};

/**
 * Null when `workload` on a model with config `c` fits the backend beside the other live models (`self` excluded),
 * else the sentence saying why not and what to do. Only weights (`loading`) or the whole need (a request) count.
 */
function capacityProblem(c: ModelConfig, workload: Workload, backend: string, self: object | null, loading = false): string | null {
  let others = 0;
  for (const [m, bytes] of live) if (m !== self) others += bytes;
  const instead = backend === 'wasm' ? 'a GPU inference node, or this node with INFERENCE_BACKEND=cpu (slower, no such limit)' : 'a smaller model or a machine with more memory';
  const alone = checkCapacity(c, workload, backend, { deviceBytes: backend === 'cpu' ? totalmem() : undefined, instead, what: loading ? 'serving this model' : undefined });
  if (!alone.ok) return alone.message!;
  const need = loading ? alone.need.weightsBytes : alone.need.totalBytes;
  if (alone.limitBytes !== undefined && others > 0 && others + need > alone.limitBytes) {
    return `This needs ~${formatGiB(need)} on the ${backend} backend beside the ~${formatGiB(others)} another loaded model holds, more than the ${formatGiB(alone.limitBytes)} it can hold safely: unload the other model first, or use ${instead}.`;
  }
  return null;
}

async function readJsonFile(folder: FolderReader, name: string): Promise<object> {
  const bytes = await folder.read(name);
  if (!bytes) throw new CheckpointError(`the model folder has no ${name}`, name);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as object;
  } catch (e) {
    throw new CheckpointError(`${name} is not valid JSON (${(e as Error).message})`, name);
  }
}

/** The training step a folder was saved at, from trainer_state.json or workbench.json when present. */
async function readStep(folder: FolderReader): Promise<number | null> {
  for (const name of ['workbench.json', 'trainer_state.json']) {
    const bytes = await folder.read(name);
    if (!bytes) continue;
    try {
      const o = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      const step = o.step ?? o.global_step;
      if (typeof step === 'number' && Number.isInteger(step)) return step;
    } catch {
      // an unreadable side file only loses the step number
    }
  }
  return null;
}

/** Token ids that end a turn: config.json's and generation_config.json's eos_token_id, and `<|im_end|>`. */
async function readEosIds(folder: FolderReader, model: Qwen3Model, tokenizer: ChatTokenizer): Promise<number[]> {
  const ids = new Set<number>([tokenizer.eosTokenId]);
  const add = (v: unknown): void => {
    for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'number' && Number.isInteger(x) && x >= 0) ids.add(x);
  };
  add(model.config.eosTokenId);
  const bytes = await folder.read('generation_config.json');
  if (bytes) {
    try {
      add((JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>).eos_token_id);
    } catch (e) {
      throw new CheckpointError(`generation_config.json is not valid JSON (${(e as Error).message})`, 'generation_config.json');
    }
  }
  return [...ids];
}

/** Holds back a tail of `text` that could still become a stop string, so streamed text never shows one. */
function safeLength(text: string, stops: readonly string[]): number {
  let keep = text.length;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > 0; k--) {
      if (text.endsWith(s.slice(0, k))) {
        keep = Math.min(keep, text.length - k);
        break;
      }
    }
  }
  // a trailing U+FFFD is usually half of a multi-byte character still being decoded
  while (keep > 0 && text.charCodeAt(keep - 1) === 0xfffd) keep--;
  return keep;
}

class EngineModel implements InferenceModel {
  constructor(
    private readonly model: Qwen3Model,
    readonly tokenizer: ChatTokenizer,
    readonly checkpointStep: number | null,
    private readonly eosIds: number[],
    private readonly backend: string,
  ) {
    live.set(this, heldBytes(model.config, backend));
  }

  /** Refuses a request the backend cannot compute correctly (HTTP 400 with the reason). */
  private checkRequest(tokens: number, cacheTokens: number): void {
    const problem = capacityProblem(this.model.config, { kind: 'inference', tokens, cacheTokens }, this.backend, this);
    if (problem) throw new HttpError(400, `${problem} (this request: ${tokens} prompt tokens, up to ${cacheTokens} with the answer)`, 'invalid_request_error');
  }

  chatPrompt(messages: readonly ChatMessage[], template: ChatTemplateKind = 'stock'): string {
    return this.tokenizer.renderChat(messages, { template, addGenerationPrompt: true, enableThinking: false });
  }

  async generate(prompt: string, opts: GenOptions): Promise<GenOutput> {
    const promptIds = this.tokenizer.encode(prompt);
    this.checkRequest(promptIds.length, promptIds.length + opts.maxTokens);
    let sent = 0;
    const out = await generate(this.model, promptIds, {
      maxNewTokens: opts.maxTokens,
      temperature: opts.temperature,
      topP: opts.topP,
      seed: opts.seed,
      stopStrings: opts.stop,
      processors: opts.processors,
      timeLimitMs: opts.timeLimitMs,
      signal: opts.signal,
      eosTokenIds: this.eosIds,
      decode: (ids) => this.tokenizer.decode(ids, { skipSpecialTokens: true }),
      onToken: opts.onText
        ? (_id, text) => {
            const upTo = safeLength(text, opts.stop);
            if (upTo > sent) {
              opts.onText?.(text.slice(sent, upTo));
              sent = upTo;
            }
          }
        : undefined,
    });
    if (opts.onText && out.text.length > sent) opts.onText(out.text.slice(sent));
    return { text: out.text, promptTokens: promptIds.length, completionTokens: out.ids.length, stopReason: out.stopReason, ms: out.ms };
  }

  async answerScore(prompt: readonly ChatMessage[], answer: string, template: ChatTemplateKind = 'stock', calibration = false): Promise<AnswerScore> {
    const enc = this.tokenizer.encodeChat([...prompt, { role: 'assistant', content: answer }], { template, enableThinking: false });
    const promptLen = this.tokenizer.encode(this.chatPrompt(prompt, template)).length;
    const T = enc.ids.length - 1;
    if (T < 1) throw new Error('answerScore: the conversation has fewer than two tokens');
    const targets = new Int32Array(T);
    const positions: number[] = [];
    for (let i = 0; i < T; i++) {
      const trained = enc.trainMask[i + 1] === 1 && i + 1 >= Math.min(promptLen, enc.ids.length - 1);
      targets[i] = trained ? enc.ids[i + 1] : IGNORE_INDEX;
      if (trained) positions.push(i);
    }
    if (positions.length === 0) throw new Error('answerScore: the answer has no trained tokens');
    this.checkRequest(T, T);
    const [loss, confidence, top]: (tf.Tensor | undefined)[] = tf.tidy((): tf.Tensor[] => {
      const x = singleSequence(enc.ids.subarray(0, T));
      const h = tf.reshape(this.model.hidden(x), [T, this.model.config.hiddenSize]) as tf.Tensor2D;
      const l = lmHeadLoss(h, this.model.headWeight(), targets, { chunkTokens: 128 });
      if (!calibration) return [l];
      // Logits only at the answer's positions: [n, V], never the whole conversation's.
      const golden = positions.map((i) => targets[i]);
      const logp = tf.logSoftmax(tf.matMul(tf.gather(h, tf.tensor1d(positions, 'int32')), this.model.headWeight()));
      const picked = tf.gatherND(logp, tf.tensor2d(golden.flatMap((g, r) => [r, g]), [golden.length, 2], 'int32'));
      return [l, tf.exp(picked), tf.equal(tf.argMax(logp, 1), tf.tensor1d(golden, 'int32'))];
    });
    const value = (await loss!.data())[0];
    const tokens = confidence && top ? { confidence: (await confidence.data()) as Float32Array, correct: Uint8Array.from(await top.data()) } : undefined;
    tf.dispose([loss, confidence, top]);
    return tokens ? { loss: value, tokens } : { loss: value };
  }

  dispose(): void {
    live.delete(this);
    this.model.dispose();
  }
}

async function loadFolder(dir: string): Promise<EngineModel> {
  const backend = await ensureNodeBackend();
  const folder = nodeFolder(dir);
  const config = await readModelConfig(folder); // config.json first: the most telling error for a wrong folder
  // Before any weight loads: the model must fit alone (weights, packed copies, a short request) and its weights
  // must fit beside the models already loaded.
  const problem = capacityProblem(config, { kind: 'inference', tokens: 1 }, backend, null, true);
  if (problem) throw new CheckpointError(problem, 'config.json');
  const tokenizerJson = await readJsonFile(folder, 'tokenizer.json');
  const tokenizerConfig = await readJsonFile(folder, 'tokenizer_config.json');
  const tokenizer = loadTokenizer(tokenizerJson, tokenizerConfig);
  const model = await loadModel(folder);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    model.dispose();
    throw new CheckpointError(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`, 'tokenizer.json');
  }
  try {
    return new EngineModel(model, tokenizer, await readStep(folder), await readEosIds(folder, model, tokenizer), backend);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

export const engineInference: InferenceEngine = {
  async validateFolder(dir) {
    (await loadFolder(dir)).dispose();
  },
  load: loadFolder,
};
