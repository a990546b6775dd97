/**
 * Evolution snapshots (issue 13): a few fixed prompts answered greedily at the global steps of `evolutionSchedule`,
 * between steps, as one batch within sampleTimeLimitMs a prompt and followed by a heartbeat, so training never stalls;
 * their time counts in the eval time budget (`spent`, the trainer's EvalSetRunner) but a due snapshot is never put
 * off (the viewer compares fixed steps); stored as
 * sample rows of kind 'evolution'. The prompts are the first `evolutionPrompts` held-out chats of the file trained
 * when the model's first snapshot is due, and are read back from the stored rows after (a reload keeps them fixed).
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
  private prompts: Chat[] | null = null;
  /** Steps already taken in this run (a step is revisited after a timed checkpoint restarts the job). */
  private readonly taken = new Set<number>();

  constructor(
    private readonly cfg: Pick<TrainConfig, 'evolutionPrompts' | 'evolutionSchedule'>,
    private readonly repo: { evolution: MetricsRepo['evolution']; addSample(row: SampleRow): Promise<unknown> },
    private readonly spent: (ms: number) => void = () => {},
  ) {
    this.schedule = parseEvolutionSchedule(cfg.evolutionSchedule);
  }

  /** Takes the snapshot of global step `step` when one is due; `beat` runs after each answer. */
  async maybeTake(s: Session, step: number, itemId: number, heldOut: readonly Chat[], beat: () => Promise<void>): Promise<void> {
    if (this.cfg.evolutionPrompts === 0 || this.taken.has(step) || !isEvolutionStep(this.schedule, step)) return;
    this.taken.add(step);
    const stored = await this.repo.evolution(s.modelRow.id);
    if (stored.some((r) => r.step === step)) return; // taken before a restart
    this.prompts ??= fixedPrompts(stored) ?? heldOut.slice(0, this.cfg.evolutionPrompts);
    const t0 = Date.now();
    const rows = await sampleAnswers(s, this.prompts, { step, itemId });
    for (const [promptIndex, row] of rows.entries()) await this.repo.addSample({ ...row, kind: 'evolution', promptIndex, messages: this.prompts[promptIndex].prompt });
    this.spent(Date.now() - t0);
    await beat();
  }
}

/** The prompts of the stored snapshots, by prompt index; null when there are none yet. */
function fixedPrompts(rows: readonly SampleRow[]): Chat[] | null {
  const byIndex = new Map<number, Chat>();
  for (const r of rows) if (r.messages && r.promptIndex !== undefined && !byIndex.has(r.promptIndex)) byIndex.set(r.promptIndex, { prompt: r.messages, golden: r.golden });
  return byIndex.size ? [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c) : null;
}
