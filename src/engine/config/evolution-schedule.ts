/**
 * The evolution snapshots' schedule (config field `evolutionSchedule`): global steps as a comma list, optionally
 * ending with `every N` — "0,10,25,50,100,250,500,1000,every 1000" is those steps, then every 1000th after the last.
 */
import { ConfigError } from '../errors.ts';

export interface EvolutionSchedule {
  /** Listed steps, ascending. */
  steps: number[];
  /** After the last listed step, every this many steps (0: none). */
  every: number;
}

/** Parses the schedule text; a malformed one is a ConfigError naming the field and the expected form. */
export function parseEvolutionSchedule(text: string): EvolutionSchedule {
  const bad = (why: string) =>
    new ConfigError(`config field "evolutionSchedule" ${why}, got ${JSON.stringify(text)}`, 'evolutionSchedule', 'steps like "0,10,25", optionally ending with "every N"');
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  let every = 0;
  const tail = parts.length ? /^every\s+(\d+)$/.exec(parts[parts.length - 1]) : null;
  if (tail) {
    every = Number(tail[1]);
    if (every < 1) throw bad('needs "every N" with N at least 1');
    parts.pop();
  }
  const steps = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw bad(`holds "${p}", which is neither a step nor "every N"`);
    return Number(p);
  });
  if (steps.length === 0 && every === 0) throw bad('lists no step');
  return { steps: [...new Set(steps)].sort((a, b) => a - b), every };
}

/** True when a snapshot is due at global step `step`. */
export function isEvolutionStep(s: EvolutionSchedule, step: number): boolean {
  if (s.steps.includes(step)) return true;
  const last = s.steps.length ? s.steps[s.steps.length - 1] : 0;
  return s.every > 0 && step > last && step % s.every === 0;
}
