/**
 * The official OpenAI client (npm `openai`, pinned to 6.49.0: the 7.x line requires Node >= 22, this
 * project runs on Node 20) against the inference node on 127.0.0.1 with a tiny random Qwen3 model:
 * chat, streaming, max_tokens, stop sequences, and errors as the client's typed exceptions (a wrong key
 * is an AuthenticationError 401; a model id the node does not have is a NotFoundError 404 with code
 * `model_not_found`, never an answer from the active model).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { AuthenticationError, NotFoundError } from 'openai';
import { RemoteClient } from '../../src/remote/client.ts';
import { readSafetensors, writeSafetensors } from '../../src/engine/safetensors.ts';
import type { RunningNode } from '../../server/app.ts';
import { ADMIN, READ, makeTinyModelFolder, startTestNode, tempDir } from './server-fixture.ts';

let node: RunningNode;
let client: OpenAI;
const messages = [{ role: 'user' as const, content: 'Say hello.' }];

/**
 * A random tiny model's greedy answer repeats the prompt's last token (tied embeddings: its own row scores
 * highest). With the final norm's weights negated it answers with varied tokens, long enough to take a stop string from.
 */
function negateFinalNorm(dir: string): void {
  const file = join(dir, 'model.safetensors');
  const st = readSafetensors(readFileSync(file));
  const norm = st.tensors.get('model.norm.weight')!;
  norm.data = norm.data.map((v) => -v);
  writeFileSync(file, writeSafetensors(st.tensors, 'F32', st.metadata));
}

beforeAll(async () => {
  const root = tempDir('node-openai-');
  const dir = await makeTinyModelFolder(join(root, 'tiny'), 1);
  negateFinalNorm(dir);
  node = await startTestNode(join(root, 'data'), { maxTokens: 12 });
  const admin = new RemoteClient({ baseUrl: node.url, adminKey: ADMIN });
  await admin.registerModel({ id: 'tiny-a', source: dir });
  await admin.setActive('tiny-a');
  client = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: READ, maxRetries: 0, timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await node?.close();
});

describe('the OpenAI client against the inference node', () => {
  it('chats, honours max_tokens and streams the same greedy answer', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-a', messages, max_tokens: 6, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('tiny-a');
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(6);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    if (r.choices[0].finish_reason === 'length') expect(r.usage!.completion_tokens).toBe(6);

    const stream = await client.chat.completions.create({ model: 'tiny-a', messages, max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.model).toBe('tiny-a');
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(r.choices[0].message.content);
    expect(finish).toBe(r.choices[0].finish_reason);
  });

  it('stops at a stop sequence, leaving it out', async () => {
    const full = await client.chat.completions.create({ model: 'tiny-a', messages, max_tokens: 12, temperature: 0 });
    const text = full.choices[0].message.content ?? '';
    // a stop string taken from the middle of the greedy answer: the same request with it ends just before it
    const chars = [...text];
    expect(chars.length).toBeGreaterThan(2);
    const stop = chars.slice(Math.floor(chars.length / 2), Math.floor(chars.length / 2) + 1).join('');
    const cut = await client.chat.completions.create({ model: 'tiny-a', messages, max_tokens: 12, temperature: 0, stop: [stop] });
    expect(cut.choices[0].finish_reason).toBe('stop');
    expect(cut.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('a wrong key is an AuthenticationError (401)', async () => {
    const wrong = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'not-the-key', maxRetries: 0 });
    const err = await wrong.chat.completions.create({ model: 'tiny-a', messages, max_tokens: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).status).toBe(401);
    expect((err as AuthenticationError).type).toBe('authentication_error');
  });

  it('a model the node does not have is a NotFoundError (404 model_not_found), plain and streamed', async () => {
    for (const stream of [false, true]) {
      const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 2, stream }).catch((e: unknown) => e);
      expect(err, `stream: ${stream}`).toBeInstanceOf(NotFoundError);
      const e = err as NotFoundError;
      expect(e.status).toBe(404);
      expect(e.code).toBe('model_not_found');
      expect(e.param).toBe('model');
      expect(e.message).toMatch(/gpt-4o-mini/);
      expect(e.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    }
  });
});
