/**
 * Demo and test data with canonical answers: arithmetic expression trees with their exact values, and
 * syllogisms with their conclusion. Deterministic: example i of seed s comes from rngFor(s, i).
 */
import { type Rng, rngFor } from '../engine/rng.ts';
import type { ChatExample } from '../engine/types.ts';

export const TASKS = ['arith', 'syllogism'] as const;
export type TaskName = (typeof TASKS)[number];
export const GENERATOR_VERSION = 'gen-data/1';

/** An exact decimal: value = n / 10^scale. */
interface Dec {
  n: bigint;
  scale: number;
}

function decText(d: Dec): string {
  const neg = d.n < 0n;
  const digits = (neg ? -d.n : d.n).toString().padStart(d.scale + 1, '0');
  const int = digits.slice(0, digits.length - d.scale);
  const frac = digits.slice(digits.length - d.scale).replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return neg && body !== '0' ? `-${body}` : body;
}

function align(a: Dec, b: Dec): [bigint, bigint, number] {
  const s = Math.max(a.scale, b.scale);
  return [a.n * 10n ** BigInt(s - a.scale), b.n * 10n ** BigInt(s - b.scale), s];
}

type Arith = { op: 'add' | 'sub' | 'mul'; l: Arith; r: Arith } | { value: Dec };
const SIGN: Record<'add' | 'sub' | 'mul', string> = { add: '+', sub: '−', mul: '×' };

function randomArith(rng: Rng, depth: number): Arith {
  if (depth === 0 || rng.next() < 0.3) {
    const decimal = rng.next() < 0.15;
    const n = BigInt(rng.int(decimal ? 1 : 0, decimal ? 199 : 99)) * (rng.next() < 0.1 ? -1n : 1n);
    return { value: { n, scale: decimal ? 1 : 0 } };
  }
  return { op: rng.pick(['add', 'sub', 'mul'] as const), l: randomArith(rng, depth - 1), r: randomArith(rng, depth - 1) };
}

function evaluate(e: Arith): Dec {
  if ('value' in e) return e.value;
  const a = evaluate(e.l);
  const b = evaluate(e.r);
  if (e.op === 'mul') return { n: a.n * b.n, scale: a.scale + b.scale };
  const [x, y, s] = align(a, b);
  return { n: e.op === 'add' ? x + y : x - y, scale: s };
}

function canonical(e: Arith): string {
  return 'value' in e ? decText(e.value) : `(${e.op} ${canonical(e.l)} ${canonical(e.r)})`;
}

function infix(e: Arith, top = true): string {
  if ('value' in e) return e.value.n < 0n ? `(${decText(e.value)})` : decText(e.value);
  const s = `${infix(e.l, false)} ${SIGN[e.op]} ${infix(e.r, false)}`;
  return top ? s : `(${s})`;
}

function arith(rng: Rng): { user: string; answer: string } {
  let e = randomArith(rng, rng.int(1, 3));
  if ('value' in e) e = { op: 'add', l: e, r: { value: { n: BigInt(rng.int(1, 9)), scale: 0 } } };
  return {
    user: `Compute ${infix(e)}. Answer with the expression tree and its value.`,
    answer: `(= ${canonical(e)} ${decText(evaluate(e))})`,
  };
}

const TERMS = ['cat', 'mammal', 'animal', 'dog', 'bird', 'robin', 'fish', 'shark', 'reptile', 'snake', 'insect', 'bee', 'plant', 'tree', 'oak', 'vehicle', 'car', 'poet', 'artist', 'human'];
const NAMES = ['Socrates', 'Ada', 'Rex', 'Tweety', 'Nemo', 'Kaa', 'Maya', 'Otto'];

const plural = (t: string): string => (t === 'fish' ? 'fish' : `${t}s`);
const article = (t: string): string => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

function syllogism(rng: Rng): { user: string; answer: string } {
  const [a, b, c] = rng.shuffle([...TERMS]).slice(0, 3);
  const x = rng.pick(NAMES);
  const [as, bs, cs] = [plural(a), plural(b), plural(c)];
  switch (rng.int(0, 3)) {
    case 0:
      return { user: `All ${as} are ${bs}. All ${bs} are ${cs}. Are all ${as} ${cs}?`, answer: `(therefore (all ${a} ${b}) (all ${b} ${c}) (all ${a} ${c}))` };
    case 1:
      return { user: `Some ${as} are ${bs}. All ${bs} are ${cs}. Are some ${as} ${cs}?`, answer: `(therefore (some ${a} ${b}) (all ${b} ${c}) (some ${a} ${c}))` };
    case 2:
      return { user: `${x} is ${article(a)}. All ${as} are ${bs}. Is ${x} ${article(b)}?`, answer: `(therefore (is ${x} ${a}) (all ${a} ${b}) (is ${x} ${b}))` };
    default:
      return { user: `All ${as} are ${bs}. Some ${cs} are ${bs}. Are some ${cs} ${as}?`, answer: `(unknown (all ${a} ${b}) (some ${c} ${b}) (some ${c} ${a}))` };
  }
}

/** Example `index` of `task` under `seed`: a user question and a canonical S-expression answer. */
export function generateExample(task: TaskName, seed: number, index: number): ChatExample {
  const rng = rngFor(seed, index);
  const { user, answer } = task === 'arith' ? arith(rng) : syllogism(rng);
  return {
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: answer },
    ],
    metadata: { task, skill: task, source: 'gen-data', generator_version: GENERATOR_VERSION, seed, index },
  };
}
