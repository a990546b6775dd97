/**
 * The data-generation job: produces chat examples and packs them into JSONL shards the workbench
 * pulls into its queue. Strategies: `self_instruct` (the model writes a question on the domain,
 * then answers it), `fix_eval_failures` (the golden answers of an eval job's failed examples),
 * `builtin` (the seeded task generators of src/regime3/tasks.ts, with canonical answers).
 */
import type { ChatExample } from '../src/engine/types.ts';
import { TASKS, generateExample, type TaskName } from '../src/regime3/tasks.ts';
import type { DataGenRequest, DataGenResult, DataGenShard, EvalResult, Job } from '../src/remote/api.ts';
import type { JobStore } from './jobs.ts';
import type { ModelHost } from './model-host.ts';

export interface DataGenLimits {
  maxTokens: number;
  timeLimitMs: number;
}

export function toShards(examples: ChatExample[], shardSize: number, jobId: string): DataGenShard[] {
  const shards: DataGenShard[] = [];
  for (let i = 0; i < examples.length; i += shardSize) {
    const part = examples.slice(i, i + shardSize);
    shards.push({ name: `${jobId}-shard-${String(shards.length).padStart(3, '0')}.jsonl`, examples: part.length, jsonl: part.map((e) => JSON.stringify(e)).join('\n') + '\n' });
  }
  return shards;
}

export async function runDataGenJob(job: Job, host: ModelHost, jobs: JobStore, limits: DataGenLimits, progress: (f: number) => void): Promise<DataGenResult> {
  const p = job.params as unknown as DataGenRequest;
  const n = p.config.num_examples;
  const seed = p.config.seed ?? 0;
  const examples: ChatExample[] = [];
  if (p.strategy === 'builtin') {
    const task = p.config.task ?? p.config.domain ?? '';
    if (!(TASKS as readonly string[]).includes(task)) throw new Error(`Unknown builtin task "${task}"; expected one of: ${TASKS.join(', ')}.`);
    for (let i = 0; i < n; i++) {
      examples.push(generateExample(task as TaskName, seed, i));
      progress((i + 1) / n);
    }
  } else if (p.strategy === 'fix_eval_failures') {
    const evalId = p.config.eval_job_id;
    if (!evalId) throw new Error('config.eval_job_id is required for fix_eval_failures.');
    const ev = jobs.get(evalId);
    if (!ev || ev.type !== 'eval') throw new Error(`No eval job with id "${evalId}".`);
    if (ev.status !== 'done') throw new Error(`Eval job "${evalId}" is ${ev.status}, not done.`);
    const res = ev.result as EvalResult;
    if (!res.examples) throw new Error(`Eval job "${evalId}" ran without per_example_logging; its failures are unknown.`);
    for (const ex of res.examples.filter((e) => !e.correct).slice(0, n)) {
      examples.push({ messages: [...ex.messages, { role: 'assistant', content: ex.expected }], metadata: { source: evalId, index: ex.index } });
    }
    progress(1);
  } else if (p.strategy === 'self_instruct') {
    const domain = p.config.domain ?? 'general knowledge';
    const maxTokens = Math.min(p.config.max_tokens ?? limits.maxTokens, limits.maxTokens);
    await host.session(job.model_id, async (run) => {
      const attempts = n * 3;
      for (let a = 0; a < attempts && examples.length < n; a++) {
        const common = { maxTokens, topP: 0.95, stop: [], timeLimitMs: limits.timeLimitMs, seed: seed * 1000 + a };
        const question = await run(async (model) => {
          const q = await model.generate(
            model.chatPrompt([{ role: 'user', content: `Write one new, self-contained question about ${domain}. Reply with the question only.` }]),
            { ...common, temperature: 1 },
          );
          return q.text.trim();
        });
        if (question === '') continue;
        const answer = await run((model) => model.generate(model.chatPrompt([{ role: 'user', content: question }]), { ...common, temperature: 0.7 }));
        examples.push({ messages: [{ role: 'user', content: question }, { role: 'assistant', content: answer.text.trim() }], metadata: { source: 'self_instruct', domain } });
        progress(examples.length / n);
      }
    });
  } else {
    throw new Error(`Unknown strategy "${String(p.strategy)}"; expected self_instruct, fix_eval_failures or builtin.`);
  }
  return { examples: examples.length, shards: toShards(examples, p.config.shard_size ?? 100, job.id) };
}
