/**
 * The eval job: for each example of an uploaded dataset, the profile's transform gives the prompt
 * and golden answer; the model answers greedily (with the profile's logits processors) and the
 * profile's `compare` judges it (with its outcome: emoji_think's contract, regime3's right / wrong / decode failure,
 * counted); the teacher-forced loss of the golden answer is averaged, and with metric `ece` the expected calibration
 * error of the golden tokens (their probability against whether each was the model's top token) is computed.
 */
import type { EvalExampleResult, EvalJobRequest, EvalResult, Job } from '../src/remote/api.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expectedCalibrationError } from '../src/engine/calibration.ts';
import { getProfile } from '../src/profiles/index.ts';
import { answerOutcome, countOutcomes } from '../src/profiles/outcome.ts';
import type { Profile } from '../src/profiles/types.ts';
import { readCodebookFile } from '../src/regime3/codebook-file.ts';
import { readChatJsonl } from './datasets.ts';
import type { ModelHost } from './model-host.ts';
import type { Registry } from './registry.ts';

export interface EvalLimits {
  maxTokens: number;
  timeLimitMs: number;
}

export async function runEvalJob(job: Job, host: ModelHost, registry: Registry, limits: EvalLimits, progress: (f: number) => void): Promise<EvalResult> {
  const p = job.params as unknown as EvalJobRequest;
  const profileName = p.profile ?? 'plain_sft';
  const profile = evalProfile(profileName, registry.requireModel(job.model_id).path);
  const ds = registry.requireDataset(p.dataset_ref);
  const examples = await readChatJsonl(ds.path, ds.id, p.max_samples ?? Infinity);
  if (examples.length === 0) throw new Error(`Dataset "${ds.id}" holds no examples.`);
  const metrics = p.metrics ?? ['accuracy', 'loss'];
  const calibration = metrics.includes('ece');
  return host.session(job.model_id, async (run) => {
    const results: EvalExampleResult[] = [];
    const confidences: number[] = [], rights: number[] = [];
    let lossSum = 0;
    for (let i = 0; i < examples.length; i++) {
      const msgs = profile.transform(examples[i], i);
      const last = msgs.length - 1;
      const prompt = msgs.slice(0, last);
      const golden = msgs[last].content;
      const { out, score } = await run(async (model) => {
        const procs = profile.logitsProcessors(model.tokenizer, prompt);
        const gen = await model.generate(model.chatPrompt(prompt, profile.chatTemplate), {
          maxTokens: limits.maxTokens,
          temperature: 0,
          topP: 1,
          stop: [],
          timeLimitMs: limits.timeLimitMs,
          processors: procs.processors,
        });
        return { out: gen, score: await model.answerScore(prompt, golden, profile.chatTemplate, calibration) };
      });
      const verdict = profile.compare(out.text, golden);
      lossSum += score.loss;
      if (score.tokens) {
        confidences.push(...score.tokens.confidence);
        rights.push(...score.tokens.correct);
      }
      const userTurns = prompt.filter((m) => m.role === 'user');
      const outcome = answerOutcome(profileName, verdict.details);
      results.push({
        index: i, messages: prompt, prompt: userTurns[userTurns.length - 1]?.content ?? '', expected: golden, output: out.text,
        correct: verdict.match, score: verdict.score, loss: score.loss, ...(outcome ? { outcome } : {}),
      });
      progress((i + 1) / examples.length);
    }
    const correct = results.filter((r) => r.correct).length;
    const result: EvalResult = {
      accuracy: correct / results.length,
      total: results.length,
      correct,
      average_loss: lossSum / results.length,
      profile: profileName,
      dataset_ref: ds.id,
      metrics,
    };
    if (calibration) {
      result.ece = expectedCalibrationError(confidences, rights).ece;
      result.ece_tokens = confidences.length;
    }
    const outcomes = countOutcomes(results.map((r) => r.outcome));
    if (Object.keys(outcomes).length > 0) result.outcomes = outcomes;
    if (p.per_example_logging !== false) result.examples = results;
    return result;
  });
}

const CODEBOOK_FILE = 'regime3-codebook.json';

/** The profile to judge with; regime3 decodes with the codebook the model folder was exported with. */
function evalProfile(name: string, modelPath: string): Profile {
  if (name !== 'regime3') return getProfile(name);
  const file = join(modelPath, CODEBOOK_FILE);
  if (!existsSync(file)) throw new Error(`Profile regime3 needs the model's ${CODEBOOK_FILE}, and the folder ${modelPath} has none.`);
  return getProfile(name, { regime3: { codebook: readCodebookFile(file) } });
}
