/**
 * The one-click example dataset for a first start: small, deterministic chat examples (additions, opposites,
 * capitals) whose answers are short enough for the bundled tiny model to start learning within a minute.
 */
import { Rng } from '../engine/rng.ts';

export const SAMPLE_DATASET_NAME = 'example-small-talk.jsonl';

const OPPOSITES: [string, string][] = [
  ['hot', 'cold'], ['up', 'down'], ['day', 'night'], ['big', 'small'], ['fast', 'slow'], ['open', 'closed'], ['left', 'right'], ['happy', 'sad'],
];
const CAPITALS: [string, string][] = [
  ['France', 'Paris'], ['Japan', 'Tokyo'], ['Italy', 'Rome'], ['Spain', 'Madrid'], ['Egypt', 'Cairo'], ['Peru', 'Lima'], ['Kenya', 'Nairobi'], ['Norway', 'Oslo'],
];

/** `count` examples as JSONL (one `{"messages": [...]}` per line), the same for the same seed. */
export function sampleDatasetJsonl(count = 96, seed = 42): string {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    let user: string;
    let answer: string;
    switch (i % 3) {
      case 0: {
        const a = rng.int(0, 9);
        const b = rng.int(0, 9);
        user = `What is ${a} + ${b}?`;
        answer = String(a + b);
        break;
      }
      case 1: {
        const [w, o] = rng.pick(OPPOSITES);
        user = `Opposite of ${w}?`;
        answer = o;
        break;
      }
      default: {
        const [c, cap] = rng.pick(CAPITALS);
        user = `Capital of ${c}?`;
        answer = cap;
      }
    }
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: user }, { role: 'assistant', content: answer }], metadata: { source: 'workbench-example', skill: ['add', 'opposite', 'capital'][i % 3] } }));
  }
  return lines.join('\n') + '\n';
}
