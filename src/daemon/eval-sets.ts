/**
 * The model's fixed eval sets inside the trainer (issue 13): each set's file is validated like a training file and
 * tokenized once per session, then scored between steps, a batch of examples at a time (teacher-forced answer tokens, a
 * greedy answer through the profile's processors and compare, the profile's outcome of each answer and their counts)
 * and stored as one result per set and step. Evals due at a checkpoint always run;
 * those due every `evalEverySteps` are deferred while eval time would pass `evalTimeShare` of the wall time: the next
 * eval, at the latest the checkpoint that ends every file before the queue goes idle, covers newer weights.
 */
import { validateStream } from '../engine/data/validate.ts';
import { tokenizeExample } from '../engine/data/collate.ts';
import { ANSWER_SLACK_TOKENS, evalSetMetrics, scoreAnswerTokensBatch, type ExampleOutcome, type TokenScores } from '../engine/eval-set.ts';
import { greedyBatch } from '../engine/generate-batch.ts';
import { answerOutcome, countOutcomes, type AnswerOutcome } from '../profiles/outcome.ts';
import type { ChatMessage } from '../engine/types.ts';
import type { EvalResultRow, EvalSetRow, WorkbenchDb } from '../store/db.ts';
import type { Session } from './session.ts';

interface EvalExample {
  prompt: ChatMessage[];
  golden: string;
  ids: Int32Array;
  trainMask: Uint8Array;
  promptIds: number[];
  goldenTokens: number;
  skill?: string;
  difficulty?: string;
}

/** Why an eval is run: due at a checkpoint, before the first step (or for sets added while idle), every evalEverySteps. */
export type EvalReason = 'checkpoint' | 'before-training' | 'interval';

const meta = (m: Record<string, unknown> | undefined, k: string) => (m && (typeof m[k] === 'string' || typeof m[k] === 'number') ? String(m[k]) : undefined);

/** An eval set's examples, as the profile makes them; throws a sentence naming the first bad line. */
async function loadEvalSet(s: Session, set: EvalSetRow): Promise<EvalExample[]> {
  const out: EvalExample[] = [];
  let index = 0;
  const report = await validateStream(set.blob.stream() as ReadableStream<Uint8Array>, {
    tokenizer: s.tokenizer, maxLength: s.config.maxLength, template: s.profile.chatTemplate, skipInvalidLines: false,
    file: set.name, totalBytes: set.blob.size, maxErrors: 5,
    onExample: (example, line) => {
      let messages: ChatMessage[];
      try {
        messages = s.profile.transform(example, index++);
      } catch (e) {
        throw new Error(`line ${line}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const last = messages.map((m) => m.role).lastIndexOf('assistant');
      if (last < 1) throw new Error(`line ${line}: no assistant answer after a prompt`);
      const prompt = messages.slice(0, last), golden = messages[last].content;
      const tok = tokenizeExample(s.tokenizer, messages.slice(0, last + 1), { template: s.profile.chatTemplate, maxLength: s.config.maxLength });
      const promptText = s.tokenizer.renderChat(prompt, { template: s.profile.chatTemplate, addGenerationPrompt: true, enableThinking: false });
      out.push({
        prompt, golden, ids: Int32Array.from(tok.ids), trainMask: Uint8Array.from(tok.trainMask),
        promptIds: s.tokenizer.encode(promptText), goldenTokens: s.tokenizer.encode(golden).length,
        skill: meta(example.metadata, 'skill'), difficulty: meta(example.metadata, 'difficulty'),
      });
    },
  });
  if (!report.valid) {
    const e = report.errors[0];
    throw new Error(report.fileErrors[0] ?? (e ? `line ${e.line} (${e.field}): ${e.message}` : 'invalid'));
  }
  if (out.length === 0) throw new Error('it has no examples');
  return out;
}

/** Examples scored and answered together: at most this many rows, and rows × (longest sequence) tokens at most EVAL_BATCH_TOKENS. */
const EVAL_BATCH_ROWS = 128;
const EVAL_BATCH_TOKENS = 4096;

/** Batches of example indices of similar length (less padding), each within the row and token bounds. */
export function evalBatches(lengths: readonly number[], maxRows = EVAL_BATCH_ROWS, maxTokens = EVAL_BATCH_TOKENS): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const out: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    if (cur.length > 0 && (cur.length >= maxRows || (cur.length + 1) * lengths[i] > maxTokens)) (out.push(cur), (cur = []));
    cur.push(i);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Scores every example of a loaded set with the session's current weights, a batch of examples at a time. */
async function scoreSet(s: Session, examples: EvalExample[], beat: () => Promise<void>): Promise<Omit<EvalResultRow, 'evalSetId' | 'modelId' | 'step' | 'time' | 'ms' | 'timeShare'>> {
  const hook = s.lora && !s.lora.isMerged ? s.lora.hook() : undefined;
  const outcomes: (ExampleOutcome & { outcome?: AnswerOutcome })[] = new Array(examples.length), scores: TokenScores[] = new Array(examples.length);
  const lengths = examples.map((ex) => Math.max(ex.ids.length, ex.promptIds.length + ex.goldenTokens + ANSWER_SLACK_TOKENS));
  for (const batch of evalBatches(lengths)) {
    const rows = batch.map((i) => examples[i]);
    const sc = await scoreAnswerTokensBatch(s.model, rows, hook);
    const answers = await greedyBatch(s.model, rows.map((ex) => ({
      ids: ex.promptIds, maxNewTokens: ex.goldenTokens + ANSWER_SLACK_TOKENS, processors: s.profile.logitsProcessors(s.tokenizer, ex.prompt).processors,
    })), {
      timeLimitMs: s.config.sampleTimeLimitMs * rows.length,
      eosTokenIds: [s.tokenizer.eosTokenId],
      decode: (ids) => s.tokenizer.decode(ids, { skipSpecialTokens: true }),
      forward: hook ? { linearHook: hook } : undefined,
    });
    batch.forEach((i, k) => {
      const ex = examples[i], text = answers[k].text;
      const lastUser = [...ex.prompt].reverse().find((m) => m.role === 'user')?.content ?? '';
      const cmp = s.profile.compare(text, ex.golden), outcome = answerOutcome(s.profile.name, cmp.details);
      outcomes[i] = {
        prompt: lastUser, golden: ex.golden, answer: text, match: cmp.match,
        loss: sc[k].goldenProb.length ? sc[k].nll / sc[k].goldenProb.length : 0, skill: ex.skill, difficulty: ex.difficulty, ...(outcome ? { outcome } : {}),
      };
      scores[i] = sc[k];
    });
    await beat();
  }
  const m = evalSetMetrics(outcomes, scores);
  const counted = countOutcomes(outcomes.map((o) => o.outcome));
  return {
    em: m.em, loss: m.loss, ece: m.ece, examples: m.examples, tokens: m.tokens, bySkill: m.bySkill, byDifficulty: m.byDifficulty, answers: outcomes,
    ...(Object.keys(counted).length ? { outcomes: counted } : {}),
  };
}

export class EvalSetRunner {
  private loaded = new Map<number, EvalExample[]>();
  private loadedFor: Session | null = null;
  private readonly startedAt = Date.now();
  /** Wall time spent in evals and evolution snapshots since the runner began (this trainer's life). */
  private spentMs = 0;
  private readonly lastMs = new Map<number, number>();
  /** `${evalSetId}:${step}` evaluated by this runner. */
  private readonly done = new Set<string>();

  constructor(private readonly db: WorkbenchDb) {}

  /** Counts time spent evaluating elsewhere (evolution snapshots) against the budget. */
  spend(ms: number): void {
    this.spentMs += ms;
  }

  /** Share of wall time spent in evals (and snapshots) so far. */
  get timeShare(): number {
    return this.spentMs / Math.max(1, Date.now() - this.startedAt);
  }

  /** Evaluates the session's model at `step` on every set not yet evaluated there; a due interval eval may be deferred. */
  async evaluate(s: Session, step: number, reason: EvalReason, beat: () => Promise<void> = async () => {}): Promise<void> {
    if (this.loadedFor !== s) (this.loaded.clear(), (this.loadedFor = s));
    const sets = (await this.db.evalSets.where('modelId').equals(s.modelRow.id).toArray()).filter((e) => e.status !== 'failed');
    // Done at this step by this trainer (not "a result at this step exists": after a rollback, the set-aside branch has
    // results at the steps the new branch reaches again). Before training, only sets never evaluated: on an untrained
    // model that is the base model's result.
    const todo: EvalSetRow[] = [];
    for (const set of sets) {
      if (this.done.has(`${set.id}:${step}`)) continue;
      if (reason === 'before-training' && (await this.db.evalResults.where('evalSetId').equals(set.id!).count()) > 0) continue;
      todo.push(set);
    }
    if (todo.length === 0) return;
    const est = this.estimateMs(todo); // the share of wall time after this eval, if it takes what it took last time
    if (reason === 'interval' && (this.spentMs + est) / (Date.now() - this.startedAt + est) > s.config.evalTimeShare) return;
    for (const set of todo) {
      const t0 = Date.now();
      try {
        let examples = this.loaded.get(set.id!);
        if (!examples) {
          examples = await loadEvalSet(s, set);
          this.loaded.set(set.id!, examples);
          if (set.status !== 'ready') await this.db.evalSets.update(set.id!, { status: 'ready', examples: examples.length, reason: undefined });
        }
        const r = await scoreSet(s, examples, beat);
        const ms = Date.now() - t0;
        this.spentMs += ms;
        this.lastMs.set(set.id!, ms);
        this.done.add(`${set.id}:${step}`);
        const branch = (await this.db.models.get(s.modelRow.id))?.branch;
        await this.db.evalResults.add({ ...r, evalSetId: set.id!, modelId: s.modelRow.id, step, time: Date.now(), ms, timeShare: this.timeShare, ...(branch ? { branch } : {}) });
      } catch (e) {
        this.spentMs += Date.now() - t0;
        await this.db.evalSets.update(set.id!, { status: 'failed', reason: `"${set.name}" cannot be evaluated: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
  }

  /** What the next eval of these sets should take: their last durations. */
  private estimateMs(sets: EvalSetRow[]): number {
    return sets.reduce((n, set) => n + (this.lastMs.get(set.id!) ?? 0), 0);
  }
}
