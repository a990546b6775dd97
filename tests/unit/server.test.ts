/**
 * The inference node end to end on 127.0.0.1 with a tiny random Qwen3 model: every endpoint, the key
 * table (401/403), CORS, malformed bodies, uploads (bad zip 400, oversize 413), chat (plain and
 * streamed), eval and data-gen jobs to completion, and persistence across a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { RemoteClient, RemoteError } from '../../src/remote/client.ts';
import type { DataGenResult, EvalResult, ErrorBody } from '../../src/remote/api.ts';
import type { ChatExample } from '../../src/engine/types.ts';
import { generateExample } from '../../src/regime3/tasks.ts';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel, saveModel } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { collectingFolder, zipModelFiles } from '../../src/remote/zip.ts';
import { openDb } from '../../server/db.ts';
import { JobStore, RESTART_REASON } from '../../server/jobs.ts';
import type { RunningNode } from '../../server/app.ts';
import { ADMIN, READ, makeTinyModelFolder, startTestNode, tempDir, zipFolder } from './server-fixture.ts';

let node: RunningNode;
let dataDir: string;
let modelDir: string;
let zip: Uint8Array;
let admin: RemoteClient;
let reader: RemoteClient;

const EVAL_JSONL = [
  { messages: [{ role: 'user', content: 'What is 2 + 2?' }, { role: 'assistant', content: '4' }] },
  { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hi.' }, { role: 'assistant', content: 'hi' }] },
]
  .map((o) => JSON.stringify(o))
  .join('\n');

async function raw(path: string, init: RequestInit & { key?: string } = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set('X-API-Key', init.key);
  const res = await fetch(node.url + path, { ...init, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers };
}

/** How the workbench zips a checkpoint: the engine writes the folder into memory, src/remote zips it. */
async function workbenchZip(dir: string): Promise<Uint8Array> {
  const model = await loadModel(nodeFolder(dir));
  const folder = collectingFolder();
  const tok = nodeFolder(dir);
  await saveModel(model, folder, { tokenizerJson: (await tok.read('tokenizer.json'))!, tokenizerConfigJson: (await tok.read('tokenizer_config.json'))! });
  model.dispose();
  return zipModelFiles(folder.files);
}

beforeAll(async () => {
  const root = tempDir('node-test-');
  modelDir = await makeTinyModelFolder(join(root, 'tiny'));
  zip = zipFolder(modelDir);
  dataDir = join(root, 'data');
  node = await startTestNode(dataDir, { maxModelUploadBytes: zip.length + 1024 });
  admin = new RemoteClient({ baseUrl: node.url, adminKey: ADMIN });
  reader = new RemoteClient({ baseUrl: node.url, readKey: READ });
});

afterAll(async () => {
  await node?.close();
});

describe('inference node', () => {
  it('answers /health and /version without a key', async () => {
    const h = await reader.health();
    expect(h.status).toBe('ok');
    expect(h.gpu).toEqual({ available: false, device_count: 0, device_name: null, memory_allocated_gb: null, memory_reserved_gb: null });
    expect(h.active_model).toBeNull();
    expect(typeof h.worker_busy).toBe('boolean');
    expect((await reader.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('enforces the key table: 401 without or with a wrong key, 403 for a read key on admin endpoints', async () => {
    expect((await raw('/models')).status).toBe(401);
    expect((await raw('/models', { key: 'nope' })).status).toBe(401);
    expect((await raw('/models', { key: READ })).status).toBe(200);
    for (const [method, path] of [
      ['POST', '/models/register'], ['POST', '/models/set_active'], ['POST', '/models/reload'], ['POST', '/models/upload'],
      ['POST', '/datasets'], ['POST', '/eval/jobs'], ['POST', '/data_gen/jobs'], ['GET', '/settings/power_profile'],
      ['POST', '/settings/power_profile'], ['GET', '/logs/server'],
    ]) {
      const r = await raw(path, { method, key: READ, body: method === 'POST' ? '{}' : undefined });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect((r.body as ErrorBody).error.type).toBe('permission_error');
      expect((await raw(path, { method })).status, `${method} ${path} without key`).toBe(401);
    }
    for (const path of ['/models/active', '/models/info', '/jobs', '/jobs/stats', '/gpu', '/system', '/eval/jobs/x', '/data_gen/jobs/x']) {
      expect((await raw(path)).status, path).toBe(401);
    }
    await expect(new RemoteClient({ baseUrl: node.url, adminKey: READ }).registerModel({ id: 'x', source: modelDir })).rejects.toMatchObject({ status: 403 });
    await expect(reader.registerModel({ id: 'x', source: modelDir })).rejects.toMatchObject({ status: 401 });
  });

  it('answers CORS preflights for a localhost origin and refuses other origins', async () => {
    const pre = await raw('/models', { method: 'OPTIONS', headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Headers': 'x-api-key' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/X-API-Key/i);
    const other = await raw('/health', { headers: { Origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows exactly the configured CORS origins when given', async () => {
    const other = await startTestNode(join(tempDir('node-cors-'), 'data'), { origins: ['http://wb.example:4173'] });
    try {
      const ask = (origin: string) => fetch(other.url + '/models', { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Private-Network': 'true' } });
      const ok = await ask('http://wb.example:4173');
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://wb.example:4173');
      expect(ok.headers.get('access-control-allow-private-network')).toBe('true');
      expect((await ask('http://localhost:5173')).headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('rejects malformed bodies with 400 and a message; unknown paths 404, wrong methods 405', async () => {
    const bad = await raw('/models/register', { method: 'POST', key: ADMIN, body: '{"id": ' });
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.message).toMatch(/Malformed JSON/);
    const arr = await raw('/models/register', { method: 'POST', key: ADMIN, body: '[1]' });
    expect(arr.status).toBe(400);
    const missing = await raw('/models/register', { method: 'POST', key: ADMIN, body: '{"source": "/tmp"}' });
    expect((missing.body as ErrorBody).error.param).toBe('id');
    expect((await raw('/nope', { key: ADMIN })).status).toBe(404);
    expect((await raw('/models', { method: 'POST', key: ADMIN, body: '{}' })).status).toBe(405);
    const big = await raw('/generate', { method: 'POST', key: READ, body: JSON.stringify({ prompt: 'x'.repeat(5 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    const notFolder = await raw('/models/register', { method: 'POST', key: ADMIN, body: JSON.stringify({ id: 'ghost', source: '/definitely/not/here' }) });
    expect(notFolder.status).toBe(400);
  });

  it('says no model is loaded with 503 before one is active', async () => {
    const e = await reader.chat({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect((e as RemoteError).status).toBe(503);
    await expect(reader.activeModel()).rejects.toMatchObject({ status: 404 });
  });

  it('registers a folder, sets it active (loaded) and reports it', async () => {
    const rec = await admin.registerModel({ id: 'tiny-a', source: modelDir, tags: ['test'] });
    expect(rec).toMatchObject({ id: 'tiny-a', source: modelDir, tags: ['test'], is_active: false });
    const act = await admin.setActive('tiny-a');
    expect(act.is_active).toBe(true);
    expect(act.info).toMatchObject({ loaded: true, model_id: 'tiny-a', loaded_from: modelDir });
    expect((await reader.models()).map((m) => [m.id, m.is_active])).toEqual([['tiny-a', true]]);
    expect((await reader.activeModel()).id).toBe('tiny-a');
    expect((await reader.modelInfo()).model_id).toBe('tiny-a');
    expect((await reader.health()).active_model).toBe('tiny-a');
    expect((await admin.reload()).loaded).toBe(true);
    await expect(admin.setActive('missing')).rejects.toMatchObject({ status: 404 });
  });

  it('uploads a zipped model folder; a bad zip or folder is 400, an oversize one 413', async () => {
    const badZip = await admin.uploadModel('bad', new TextEncoder().encode('this is not a zip')).catch((e: unknown) => e as RemoteError);
    expect(badZip).toMatchObject({ status: 400 });
    expect((badZip as RemoteError).message).toMatch(/not a zip/);
    const { zipSync } = await import('fflate');
    const noConfig = zipSync({ 'ckpt/readme.txt': new TextEncoder().encode('hello') });
    const badFolder = await admin.uploadModel('bad2', noConfig).catch((e: unknown) => e as RemoteError);
    expect(badFolder).toMatchObject({ status: 400 });
    expect((badFolder as RemoteError).message).toMatch(/config\.json/);
    const oversize = new Uint8Array(zip.length + 4096);
    oversize.set(zip);
    await expect(admin.uploadModel('big', oversize)).rejects.toMatchObject({ status: 413 });
    const missingId = await raw('/models/upload', { method: 'POST', key: ADMIN, body: (() => { const f = new FormData(); f.set('file', new Blob([zip as BlobPart]), 'a.zip'); return f; })() });
    expect(missingId.status).toBe(400);

    const rec = await admin.deploy('tiny-up', await workbenchZip(modelDir), ['uploaded']);
    expect(rec).toMatchObject({ id: 'tiny-up', is_active: true, tags: ['uploaded'] });
    expect(rec.path).toBe(join(dataDir, 'models', 'tiny-up'));
    const loadedAt = (await reader.modelInfo()).loaded_at;
    expect((await reader.modelInfo()).model_id).toBe('tiny-up');
    // deploying again under the loaded id replaces it and reloads it
    await admin.uploadModel('tiny-up', zip, 'again.zip', ['uploaded']);
    const info = await reader.modelInfo();
    expect(info.model_id).toBe('tiny-up');
    expect(info.loaded_at).not.toBe(loadedAt);
  });

  it('chats with the chat template, plain and streamed, and generates', async () => {
    const c = await reader.chat({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, temperature: 0 });
    expect(c.object).toBe('chat.completion');
    expect(c.model).toBe('tiny-up');
    expect(c.choices[0].message.role).toBe('assistant');
    expect(c.usage.completion_tokens).toBeGreaterThan(0);
    expect(c.usage.completion_tokens).toBeLessThanOrEqual(3);
    // the chat template (ChatML with the empty think block) makes the prompt, not "User:" lines
    expect(c.usage.prompt_tokens).toBeGreaterThan(8);
    expect(['stop', 'length']).toContain(c.choices[0].finish_reason);

    const deltas: string[] = [];
    const s = await reader.chatStream({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, temperature: 0 }, (d) => deltas.push(d));
    expect(s.text).toBe(c.choices[0].message.content);
    expect(deltas.join('')).toBe(s.text);
    expect(s.finishReason).toBe(c.choices[0].finish_reason);

    const rawStream = await fetch(node.url + '/v1/chat/completions', { method: 'POST', headers: { 'X-API-Key': READ }, body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 2, stream: true }) });
    expect(rawStream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await rawStream.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(text).toMatch(/"object":"chat.completion.chunk"/);

    // Stop in the middle of a stream: the client keeps what came, the node frees the model for the next request
    const ac = new AbortController();
    const stopped = await reader.chatStream({ messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 16, temperature: 0 }, () => ac.abort(), ac.signal);
    expect(stopped.finishReason).toBe('aborted');

    const g = await reader.generate({ prompt: 'Once upon a time', max_tokens: 2, temperature: 0 });
    expect(g.model).toBe('tiny-up');
    expect(g.tokens).toBeGreaterThan(0);

    const bad = await raw('/v1/chat/completions', { method: 'POST', key: READ, body: JSON.stringify({ messages: [{ role: 'robot', content: 'x' }] }) });
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.param).toBe('messages[0].role');
    const tooMany = await raw('/v1/chat/completions', { method: 'POST', key: READ, body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 100000 }) });
    expect(tooMany.status).toBe(400);
  });

  it('samples (temperature > 0, top_p) over the full vocabulary', async () => {
    // sampling (the default temperature 0.7, top_p 0.9) over the full 151936-token vocabulary
    const sampled = await reader.chat({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2, top_p: 0.9 });
    expect(sampled.usage.completion_tokens).toBeGreaterThan(0);

  });

  it('uploads datasets (bad JSONL is 400 naming the line) and runs an eval job to completion', async () => {
    const bad = await admin.uploadDataset('bad', '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}\n{oops}\n').catch((e: unknown) => e as RemoteError);
    expect(bad).toMatchObject({ status: 400 });
    expect((bad as RemoteError).message).toMatch(/line 2/);
    const ds = await admin.uploadDataset('evalset', EVAL_JSONL);
    expect(ds).toMatchObject({ id: 'evalset', examples: 2 });

    await expect(admin.createEvalJob({ model_id: 'tiny-up', dataset_ref: 'nope' })).rejects.toMatchObject({ status: 404 });
    await expect(admin.createEvalJob({ model_id: 'tiny-up', dataset_ref: 'evalset', profile: 'nope' })).rejects.toMatchObject({ status: 400 });
    const job = await admin.createEvalJob({ model_id: 'tiny-up', name: 'smoke', dataset_ref: 'evalset', profile: 'plain_sft', metrics: ['accuracy'], max_samples: 2, per_example_logging: true });
    expect(job.status).toBe('pending');
    const done = await reader.waitForJob<EvalResult>(job, { pollMs: 100, timeoutMs: 60_000 });
    expect(done.error).toBeNull();
    expect(done.status).toBe('done');
    const r = done.result as EvalResult;
    expect(r.total).toBe(2);
    expect(r.correct).toBe(r.examples!.filter((e) => e.correct).length);
    expect(r.accuracy).toBeCloseTo(r.correct / 2);
    // a random model over 151936 tokens: loss near ln(151936) ≈ 11.93
    expect(r.average_loss).toBeGreaterThan(9);
    expect(r.average_loss).toBeLessThan(15);
    expect(r.examples!.map((e) => e.expected)).toEqual(['4', 'hi']);
    expect(r.examples![1].messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    // metrics: ['accuracy'] asked no calibration; plain_sft has no outcomes
    expect(r.metrics).toEqual(['accuracy']);
    expect(r.ece).toBeUndefined();
    expect(r.outcomes).toBeUndefined();
  });

  it('honours an eval job\'s metrics (ece computed, unknown ones refused) and records emoji_think contracts', async () => {
    await expect(admin.createEvalJob({ model_id: 'tiny-up', dataset_ref: 'evalset', metrics: ['accuracy', 'bleu'] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/bleu.*accuracy, loss, ece/) });
    const job = await admin.createEvalJob({ model_id: 'tiny-up', dataset_ref: 'evalset', profile: 'emoji_think', metrics: ['accuracy', 'loss', 'ece'], max_samples: 2 });
    const done = await reader.waitForJob<EvalResult>(job, { pollMs: 100, timeoutMs: 60_000 });
    expect(done.error).toBeNull();
    const r = done.result as EvalResult;
    expect(r.profile).toBe('emoji_think');
    // every golden answer token counted (the answers carry an emoji prefix and a stop run); ECE is a gap in [0, 1]
    expect(r.ece_tokens).toBeGreaterThan(4);
    expect(r.ece).toBeGreaterThanOrEqual(0);
    expect(r.ece).toBeLessThanOrEqual(1);
    // three tokens of output never carry the thinking prefix and the stop signal: the contract is broken, and counted
    for (const e of r.examples!) expect(e.outcome).toMatchObject({ kind: 'emoji_contract', followed: false });
    expect(r.outcomes).toEqual({ 'contract broken': 2 });
  });

  it('a regime3 eval on a model folder without its codebook fails with a reason naming the file', async () => {
    const job = await admin.createEvalJob({ model_id: 'tiny-up', dataset_ref: 'evalset', profile: 'regime3', max_samples: 1 });
    const done = await reader.waitForJob<EvalResult>(job, { pollMs: 100, timeoutMs: 60_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/regime3-codebook\.json/);
  });

  it('frees every tensor of generation, streaming and eval (numTensors flat)', async () => {
    const before = tf.memory().numTensors;
    await reader.generate({ prompt: 'a', max_tokens: 2, temperature: 0 });
    await reader.chatStream({ messages: [{ role: 'user', content: 'b' }], max_tokens: 2, temperature: 0 }, () => undefined);
    const job = await admin.createEvalJob({ model_id: 'tiny-up', dataset_ref: 'evalset', max_samples: 1, metrics: ['accuracy', 'loss', 'ece'] });
    expect((await reader.waitForJob(job, { pollMs: 50 })).status).toBe('done');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs data-gen jobs (builtin, fix_eval_failures) into chat JSONL shards; counts jobs', async () => {
    const b = await admin.createDataGenJob({ model_id: 'tiny-up', strategy: 'builtin', config: { num_examples: 5, task: 'arith', shard_size: 2, seed: 1 } });
    const bd = await reader.waitForJob<DataGenResult>(b, { pollMs: 100 });
    expect(bd.status).toBe('done');
    const res = bd.result as DataGenResult;
    expect(res.examples).toBe(5);
    expect(res.shards.map((s) => s.examples)).toEqual([2, 2, 1]);
    const lines = res.shards.flatMap((s) => s.jsonl.trim().split('\n')).map((l) => JSON.parse(l) as ChatExample);
    expect(lines).toEqual([0, 1, 2, 3, 4].map((i) => generateExample('arith', 1, i)));
    expect(lines[1].messages[0].content).toMatch(/^Compute /);
    expect(await reader.dataGenShard(b.id, res.shards[2].name)).toBe(res.shards[2].jsonl);
    await expect(reader.dataGenShard(b.id, 'nope.jsonl')).rejects.toMatchObject({ status: 404 });

    const evalJobs = await reader.jobs({ type: 'eval', status: 'done' });
    const evalDone = evalJobs[0];
    const f = await admin.createDataGenJob({ model_id: 'tiny-up', strategy: 'fix_eval_failures', config: { num_examples: 10, eval_job_id: evalDone.id } });
    const fd = await reader.waitForJob<DataGenResult>(f, { pollMs: 100 });
    expect(fd.status).toBe('done');
    const failures = (evalDone.result as EvalResult).examples!.filter((e) => !e.correct).length;
    expect((fd.result as DataGenResult).examples).toBe(failures);

    const unknownTask = await admin.createDataGenJob({ model_id: 'tiny-up', strategy: 'builtin', config: { num_examples: 1, task: 'nope' } });
    const ud = await reader.waitForJob(unknownTask, { pollMs: 100 });
    expect(ud.status).toBe('failed');
    expect(ud.error).toMatch(/Unknown builtin task "nope"/);

    await expect(admin.createDataGenJob({ model_id: 'tiny-up', strategy: 'magic' as 'builtin', config: { num_examples: 1 } })).rejects.toMatchObject({ status: 400 });
    await expect(admin.createDataGenJob({ model_id: 'tiny-up', strategy: 'builtin', config: { num_examples: 0 } })).rejects.toMatchObject({ status: 400 });

    const stats = await reader.jobStats();
    // so far: the eval jobs (done), the failed regime3 eval, the data-gen jobs done here and the one with an unknown task (failed)
    expect(stats).toMatchObject({ pending: 0, running: 0, done: 5, failed: 2, jobs_last_hour: 7 });
    expect((await reader.jobs({ type: 'data_gen', limit: 2 })).length).toBe(2);
    expect((await raw('/jobs?status=bogus', { key: READ })).status).toBe(400);
    await expect(reader.evalJob(b.id)).rejects.toMatchObject({ status: 404 });
  });

  it('runs a self_instruct data-gen job: the model writes a question, then answers it', async () => {
    const si = await admin.createDataGenJob({ model_id: 'tiny-up', strategy: 'self_instruct', config: { num_examples: 1, domain: 'arithmetic', max_tokens: 3 } });
    const sd = await reader.waitForJob<DataGenResult>(si, { pollMs: 100 });
    expect(sd.error).toBeNull();
    expect(sd.status).toBe('done');
    const sr = sd.result as DataGenResult;
    expect(sr.examples).toBe(1);
    for (const s of sr.shards) expect((JSON.parse(s.jsonl.trim()) as { messages: unknown[] }).messages).toHaveLength(2);

  });

  it('reports telemetry, power profile "not supported" and logs', async () => {
    const gpu = await reader.gpu();
    expect(gpu.name).toBeNull();
    expect(gpu.memory_total_gb).toBeNull();
    const sys = await reader.system();
    expect(sys.ram_total_gb).toBeGreaterThan(0);
    expect(sys.ram_percent).toBeGreaterThan(0);
    expect(sys.cpu_load).toHaveLength(3);
    expect(sys.disk.length).toBeGreaterThan(0);
    const pp = await admin.powerProfile();
    expect(pp.supported).toBe(false);
    await expect(admin.setPowerProfile('quiet')).rejects.toMatchObject({ status: 501 });
    expect((await raw('/settings/power_profile', { method: 'POST', key: ADMIN, body: '{"profile": "turbo"}' })).status).toBe(400);
    const logs = await admin.logs('server', 5);
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.lines.length).toBeLessThanOrEqual(5);
    expect((await admin.logs('jobs', 50)).lines.join('\n')).toMatch(/done/);
    await expect(admin.logs('secrets')).rejects.toMatchObject({ status: 404 });
  });

  it('keeps the registry across a restart, fails jobs a restart interrupted, and time-limits generation', async () => {
    await node.close();
    // a job the dead process had taken: pending → running, never finished
    const db = openDb(dataDir);
    const store = new JobStore(db);
    const job = store.create('eval', 'tiny-up', { dataset_ref: 'evalset' });
    expect(store.takeNext()?.id).toBe(job.id);
    db.close();

    node = await startTestNode(dataDir, { generationTimeLimitMs: 1 });
    const client = new RemoteClient({ baseUrl: node.url, adminKey: ADMIN });
    const j = await client.evalJob(job.id);
    expect(j.status).toBe('failed');
    expect(j.error).toBe(RESTART_REASON);
    expect((await client.models()).map((m) => m.id).sort()).toEqual(['tiny-a', 'tiny-up']);
    expect((await client.modelInfo()).model_id).toBe('tiny-up');
    expect((await client.health()).active_model).toBe('tiny-up');
    // every generation has a time limit (1 ms here): it ends early with that reason
    const g = await client.generate({ prompt: 'Once upon a time', max_tokens: 16, temperature: 0 });
    expect(g.stop_reason).toBe('time_limit');
    expect(g.tokens).toBeLessThan(16);
  });
});
