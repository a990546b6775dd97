/**
 * `POST /v1/chat/completions` (OpenAI's shape, with the model's chat template; `stream: true` as
 * server-sent events ending `data: [DONE]`) and `POST /generate` (raw prompt completion).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChatMessage } from '../src/engine/types.ts';
import type { ChatCompletion, ChatCompletionChunk, GenerateResponse } from '../src/remote/api.ts';
import { HttpError, errorBody, optBool, optNumber, optString, readJson, reqString, sendJson } from './http.ts';
import type { GenOutput, ModelHost } from './model-host.ts';
import type { Registry } from './registry.ts';

export interface ChatLimits {
  maxBodyBytes: number;
  maxTokens: number;
  timeLimitMs: number;
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw new HttpError(400, 'Field "messages" must be a non-empty array of {role, content}.', 'invalid_request_error', 'messages');
  return v.map((m, i) => {
    const o = m as Record<string, unknown>;
    if (typeof o !== 'object' || o === null) throw new HttpError(400, `messages[${i}] must be an object.`, 'invalid_request_error', `messages[${i}]`);
    if (o.role !== 'system' && o.role !== 'user' && o.role !== 'assistant') {
      throw new HttpError(400, `messages[${i}].role must be "system", "user" or "assistant", got ${JSON.stringify(o.role)}.`, 'invalid_request_error', `messages[${i}].role`);
    }
    if (typeof o.content !== 'string') throw new HttpError(400, `messages[${i}].content must be a string.`, 'invalid_request_error', `messages[${i}].content`);
    return { role: o.role, content: o.content };
  });
}

function parseStop(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string' && s !== '')) return v as string[];
  throw new HttpError(400, 'Field "stop" must be a string or an array of up to 4 non-empty strings.', 'invalid_request_error', 'stop');
}

const finishReason = (r: GenOutput['stopReason']): string => (r === 'eos' || r === 'stop_string' ? 'stop' : 'length');

/**
 * The registered model a request names, or undefined (no `model` field) for the loaded one. A name the node
 * does not have is OpenAI's 404 `model_not_found`, as OpenAI, vLLM and Ollama answer: never another model's answer.
 */
function pickModel(name: string | undefined, registry: Registry): string | undefined {
  if (name === undefined || name === '') return undefined;
  if (registry.getModel(name)) return name;
  const known = registry.listModels().map((m) => m.id);
  throw new HttpError(
    404,
    `The model "${name}" does not exist on this node; registered: ${known.length ? known.join(', ') : 'none'}.`,
    'invalid_request_error',
    'model',
    'model_not_found',
  );
}

/** The sampling fields both endpoints share (OpenAI's names), within the node's limits. */
function samplingOptions(body: Record<string, unknown>, limits: ChatLimits) {
  return {
    maxTokens: optNumber(body, 'max_tokens', 1, limits.maxTokens) ?? Math.min(256, limits.maxTokens),
    temperature: optNumber(body, 'temperature', 0, 2) ?? 0.7,
    topP: optNumber(body, 'top_p', 0, 1) ?? 1,
    stop: parseStop(body.stop),
    timeLimitMs: limits.timeLimitMs,
  };
}

export async function handleChat(req: IncomingMessage, res: ServerResponse, host: ModelHost, registry: Registry, limits: ChatLimits): Promise<void> {
  const body = await readJson(req, limits.maxBodyBytes);
  const messages = parseMessages(body.messages);
  const opts = samplingOptions(body, limits);
  const stream = optBool(body, 'stream') ?? false;
  const requested = pickModel(optString(body, 'model'), registry);
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);

  if (!stream) {
    const { out, modelId } = await host.withModel(requested, async (m, modelId) => ({ out: await m.generate(m.chatPrompt(messages), opts), modelId }));
    const reply: ChatCompletion = {
      id,
      object: 'chat.completion',
      created,
      model: modelId,
      choices: [{ index: 0, message: { role: 'assistant', content: out.text }, finish_reason: finishReason(out.stopReason) }],
      usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens },
    };
    sendJson(res, 200, reply);
    return;
  }

  // Streaming: headers go out only once the model is known to be there, so "no model" stays a real 503.
  let started = false;
  let modelName = requested ?? host.modelInfo().model_id ?? 'unknown';
  const gone = (): boolean => res.destroyed || res.writableEnded;
  const send = (obj: unknown): void => {
    if (!gone()) res.write(`data: ${JSON.stringify(obj)}\n\n`);
  };
  const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: string | null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: modelName,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  try {
    await host.withModel(requested, async (m, modelId) => {
      modelName = modelId;
      const prompt = m.chatPrompt(messages);
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      started = true;
      send(chunk({ role: 'assistant', content: '' }, null));
      const out = await m.generate(prompt, { ...opts, signal: abort.signal, onText: (delta) => delta && send(chunk({ content: delta }, null)) });
      send(chunk({}, finishReason(out.stopReason)));
    });
  } catch (e) {
    if (!started) throw e;
    const status = e instanceof HttpError ? e.status : 500;
    send(errorBody(status, (e as Error).message, 'server_error'));
  }
  if (!gone()) res.end('data: [DONE]\n\n');
}

export async function handleGenerate(req: IncomingMessage, res: ServerResponse, host: ModelHost, limits: ChatLimits): Promise<void> {
  const body = await readJson(req, limits.maxBodyBytes);
  const prompt = reqString(body, 'prompt');
  const opts = samplingOptions(body, limits);
  const { out, modelId } = await host.withModel(undefined, async (m, modelId) => ({ out: await m.generate(prompt, opts), modelId }));
  const reply: GenerateResponse = { text: out.text, model: modelId, tokens: out.completionTokens, stop_reason: out.stopReason, ms: out.ms };
  sendJson(res, 200, reply);
}
