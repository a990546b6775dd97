import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { run as regime3Cli } from '../../src/cli/commands/regime3.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getProfile } from '../../src/profiles/index.ts';
import { buildCodebook } from '../../src/regime3/codebook.ts';
import { type Expr, parse } from '../../src/regime3/sexpr.ts';
import { generateExample } from '../../src/regime3/tasks.ts';

/** Independent check of an arith answer: evaluates the tree in floating point. */
function value(e: Expr): number {
  if (e.kind !== 'list') return Number(e.text);
  const [op, a, b] = e.items;
  const [x, y] = [value(a), value(b)];
  return op.kind === 'symbol' && op.text === 'add' ? x + y : op.kind === 'symbol' && op.text === 'sub' ? x - y : x * y;
}

describe('gen-data tasks', () => {
  it('arith answers are canonical (= tree value) with the exact value', () => {
    for (let i = 0; i < 300; i++) {
      const ex = generateExample('arith', 11, i);
      const e = parse(ex.messages[1].content);
      expect(e.kind === 'list' && e.items[0].kind === 'symbol' && e.items[0].text === '=').toBe(true);
      const [, tree, v] = (e as { items: Expr[] }).items;
      expect(Number((v as { text: string }).text)).toBeCloseTo(value(tree), 6);
      expect(ex.messages[0].content).toMatch(/^Compute .+\. Answer with the expression tree and its value\.$/);
    }
  });

  it('syllogism answers are canonical and follow the premises in the question', () => {
    const heads = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const ex = generateExample('syllogism', 2, i);
      const e = parse(ex.messages[1].content) as { items: Expr[] };
      heads.add((e.items[0] as { text: string }).text);
      expect(e.items).toHaveLength(4);
    }
    expect([...heads].sort()).toEqual(['therefore', 'unknown']);
  });

  it('is deterministic per seed and index, and usable by all three profiles', () => {
    expect(generateExample('arith', 1, 7)).toEqual(generateExample('arith', 1, 7));
    expect(generateExample('arith', 1, 7)).not.toEqual(generateExample('arith', 2, 7));
    const rows = Array.from({ length: 40 }, (_, i) => generateExample(i % 2 ? 'arith' : 'syllogism', 4, i));
    const codebook = buildCodebook(rows.map((r) => r.messages[1].content), { size: 40 });
    for (const name of ['plain_sft', 'emoji_think', 'regime3']) {
      const p = getProfile(name, { regime3: { codebook } });
      rows.forEach((r, i) => {
        expect(p.validate?.(r) ?? []).toEqual([]);
        const golden = p.transform(r, i).at(-1)!.content;
        expect(p.compare(golden, golden).match).toBe(true);
      });
    }
  });
});

describe('CLI gen-data and regime3 (child process)', () => {
  it('generates data, builds a codebook, encodes and decodes line for line with bad lines reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3-'));
    // `node --import tsx` is `npx tsx` without npx's start-up cost.
    const cli = (args: string[], input?: string) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { input, encoding: 'utf8' });
    const data = join(dir, 'a.jsonl');
    const gen = cli(['gen-data', '--task', 'arith', '--n', '60', '--seed', '9', '--out', data]);
    expect(gen.status).toBe(0);
    const lines = readFileSync(data, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(60);
    expect(JSON.parse(lines[3])).toEqual(JSON.parse(JSON.stringify(generateExample('arith', 9, 3))));
    const cb = join(dir, 'cb.json');
    expect(cli(['regime3', 'build-codebook', '--data', data, '--size', '50', '--out', cb]).status).toBe(0);
    expect(JSON.parse(readFileSync(cb, 'utf8'))).toMatchObject({ format: 'regime3-codebook', version: 1, size: 50 });
    const answers = lines.slice(0, 3).map((l) => JSON.parse(l).messages[1].content as string);
    const enc = cli(['regime3', 'encode', '--codebook', cb], `${answers[0]}\n(broken\n${answers[1]}\n+2.50\n`);
    expect(enc.status).toBe(1);
    expect(enc.stderr).toMatch(/line 2: unclosed '\('/);
    const out = enc.stdout.split('\n');
    expect(out.slice(0, 4).map((l) => l === '')).toEqual([false, true, false, false]);
    const dec = cli(['regime3', 'decode', '--codebook', cb], `${out[0]}\n${out[2]}\n<E000> <E999>\n${out[3]}\n`);
    expect(dec.status).toBe(1);
    expect(dec.stderr).toMatch(/line 3: unknown code <E999>/);
    expect(dec.stdout).toBe(`${answers[0]}\n${answers[1]}\n\n2.5\n`);
  }, 60_000);

  it('build-codebook names the file and line of an answer that is not canonical', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3-'));
    const data = join(dir, 'bad.jsonl');
    const row = (a: string) => JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: a }] });
    writeFileSync(data, `${row('(a b)')}\n\n${row('(a b')}\n`);
    await expect(regime3Cli(['build-codebook', '--data', data, '--size', '8', '--out', join(dir, 'cb.json')])).rejects.toThrow(
      /bad\.jsonl:3: messages\[1\]\.content is not a canonical S-expression: unclosed/,
    );
  });
});
