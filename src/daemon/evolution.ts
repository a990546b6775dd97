/**
 * Evolution snapshots (issue 13): a few fixed prompts answered greedily at the global steps of `evolutionSchedule`,
 * between steps, as one batch within sampleTimeLimitMs a prompt and followed by a heartbeat, so training never stalls;
 * their time counts in the eval time budget (`spent`, the trainer's EvalSetRunner) but a due snapshot is never put
 * off (the viewer compares fixed steps); stored as
 * sample rows of kind 'evolution'. The prompts are the ones the person chose (a setting per model), or else the first
 * `evolutionPrompts` held-out chats of the file trained when the model's first snapshot is due; they are read back
 * from the stored rows after (a reload keeps them fixed).
 */
import { isEvolutionStep, parseEvolutionSchedule, type EvolutionSchedule } from '../engine/config/evolution-schedule.ts';
import type { TrainConfig } from '../engine/config/train-config.ts';
import type { ChatMessage } from '../engine/types.ts';
import type { SampleRow } from '../store/db.ts';
import type { MetricsRepo } from '../store/state.ts';
import { sampleAnswers } from './sample.ts';
import type { Session } from './session.ts';

type Chat = { prompt: ChatMessage[]; golden: string };

export class EvolutionSnapshots {
  private readonly schedule: EvolutionSchedule;
  /** Steps already taken in this run (a step is revisited after a timed checkpoint restarts the job). */
  private readonly taken = new Set<number>();

  constructor(
    private readonly cfg: Pick<TrainConfig, 'evolutionPrompts' | 'evolutionSchedule'>,
    private readonly repo: Pick<MetricsRepo, 'evolution' | 'chosenEvolutionPrompts'> & { addSample(row: SampleRow): Promise<unknown> },
    private readonly spent: (ms: number) => void = () => {},
  ) {
    this.schedule = parseEvolutionSchedule(cfg.evolutionSchedule);
  }

  /** Takes the snapshot of global step `step` when one is due; `beat` runs after it. */
  async maybeTake(s: Session, step: number, itemId: number, heldOut: readonly Chat[], beat: () => Promise<void>): Promise<void> {
    if (this.cfg.evolutionPrompts === 0 || this.taken.has(step) || !isEvolutionStep(this.schedule, step)) return;
    this.taken.add(step);
    const stored = await this.repo.evolution(s.modelRow.id);
    if (stored.some((r) => r.step === step)) return; // taken before a restart
    const set = promptSet(stored, await this.repo.chosenEvolutionPrompts(s.modelRow.id), heldOut.slice(0, this.cfg.evolutionPrompts));
    if (set.chats.length === 0) return;
    const t0 = Date.now();
    const rows = await sampleAnswers(s, set.chats, { step, itemId });
    for (const [k, row] of rows.entries()) await this.repo.addSample({ ...row, kind: 'evolution', promptIndex: set.first + k, messages: set.chats[k].prompt });
    this.spent(Date.now() - t0);
    await beat();
  }
}

/**
 * The prompts of the next snapshot and the index of the first: the latest snapshot's set while it is still what the
 * person chose (or while they chose nothing); the person's new choice under new indices after every stored one (so
 * each prompt's timeline stays one prompt); the first held-out chats when nothing is stored yet.
 */
export function promptSet(stored: readonly SampleRow[], chosen: readonly string[] | undefined, drawn: readonly Chat[]): { first: number; chats: Chat[] } {
  const latest = latestSet(stored);
  const asChats = chosen?.map((text) => ({ prompt: [{ role: 'user' as const, content: text }], golden: '' }));
  if (asChats && !(latest && sameUserTurns(latest.chats, asChats))) {
    const next = stored.reduce((n, r) => Math.max(n, (r.promptIndex ?? -1) + 1), 0);
    return { first: next, chats: asChats };
  }
  return latest ?? { first: 0, chats: [...drawn] };
}

/** The prompts answered at the latest stored step, by prompt index; null when there are none. */
function latestSet(rows: readonly SampleRow[]): { first: number; chats: Chat[] } | null {
  const at = rows.reduce((m, r) => Math.max(m, r.step), -Infinity);
  const last = rows.filter((r) => r.step === at && r.messages && r.promptIndex !== undefined).sort((a, b) => a.promptIndex! - b.promptIndex!);
  return last.length ? { first: last[0].promptIndex!, chats: last.map((r) => ({ prompt: r.messages!, golden: r.golden })) } : null;
}

const sameUserTurns = (a: readonly Chat[], b: readonly Chat[]) =>
  a.length === b.length && a.every((c, i) => JSON.stringify(c.prompt) === JSON.stringify(b[i].prompt));
