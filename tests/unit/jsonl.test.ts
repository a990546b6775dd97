// Streaming JSONL line reader: chunk boundaries anywhere (inside multibyte characters, between \r and
// \n), BOM, CRLF, blank lines counted but skipped, a last line without newline, early stop, real files.
import { describe, expect, it } from 'vitest';
import { readLines, LineTooLongError, type JsonlLine } from '../../src/engine/data/jsonl.ts';
import { openFileStream } from '../../src/engine/data/node-io.ts';

/** A stream delivering `bytes` in chunks of the given sizes (cycled). */
function chunked(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let k = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = sizes[k++ % sizes.length];
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<JsonlLine[]> {
  const out: JsonlLine[] = [];
  for await (const l of readLines(stream)) out.push(l);
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);

describe('readLines', () => {
  const text = '\uFEFF{"a":"é"}\r\n\n  \n{"b":"你好🙂"}\r\n{"c":"last"}';
  const expected = [
    { line: 1, text: '{"a":"é"}' },
    { line: 4, text: '{"b":"你好🙂"}' },
    { line: 5, text: '{"c":"last"}' },
  ];

  it('handles BOM, CRLF, blank lines and a missing final newline with every chunk size 1..7', async () => {
    for (let n = 1; n <= 7; n++) expect(await collect(chunked(enc(text), [n]))).toEqual(expected);
  });

  it('splits at every possible byte position (multibyte characters and \\r|\\n cut in two)', async () => {
    const bytes = enc(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = await collect(chunked(bytes, [cut, bytes.length]));
      expect(got, `cut at ${cut}`).toEqual(expected);
    }
  });

  it('keeps a trailing newline from adding a line and numbers lines after blank ones', async () => {
    expect(await collect(chunked(enc('x\n\n\ny\n'), [3]))).toEqual([
      { line: 1, text: 'x' },
      { line: 4, text: 'y' },
    ]);
    expect(await collect(chunked(enc(''), [1]))).toEqual([]);
  });

  it('reports bytes read and cancels the source when the consumer stops early', async () => {
    let cancelled = false;
    const bytes = enc('1\n2\n3\n4\n');
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(bytes.slice(at, at + 2));
        at += 2;
      },
      cancel() {
        cancelled = true;
      },
    });
    const seen: number[] = [];
    for await (const l of readLines(stream, { onBytes: (b) => seen.push(b) })) if (l.line === 2) break;
    expect(cancelled).toBe(true);
    expect(seen[0]).toBe(2);
    const all: number[] = [];
    for await (const _ of readLines(chunked(bytes, [3]), { onBytes: (b) => all.push(b) })) void _;
    expect(all[all.length - 1]).toBe(bytes.length);
  });

  it('rejects a line longer than the limit instead of growing without bound', async () => {
    const lines = readLines(chunked(enc('ok\n' + 'x'.repeat(100)), [10]), { maxLineChars: 50 });
    await expect(collect2(lines)).rejects.toBeInstanceOf(LineTooLongError);
  });

  it('streams a 20 MB generated file with one line per row', async () => {
    const row = enc('{"prompt":"' + 'ab'.repeat(500) + '","response":"ok"}\n');
    const rows = 20_000;
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i++ >= rows) return c.close();
        c.enqueue(row);
      },
    });
    let count = 0;
    let last = 0;
    for await (const l of readLines(stream)) {
      count++;
      last = l.line;
      if (l.text.length !== row.length - 1) throw new Error(`line ${l.line} has length ${l.text.length}`);
    }
    expect(count).toBe(rows);
    expect(last).toBe(rows);
  });

  it('reads a real file through the Node adapter', async () => {
    const { stream, size } = openFileStream(new URL('../fixtures/data/valid-bom-nonl.jsonl', import.meta.url).pathname);
    expect(size).toBeGreaterThan(0);
    const got = await collect(stream);
    expect(got.map((l) => l.line)).toEqual([1, 2]);
    expect(JSON.parse(got[0].text)).toEqual({ prompt: 'bom first', response: 'fine' });
    expect(() => openFileStream('/nonexistent/file.jsonl')).toThrow(/file not found: \/nonexistent\/file.jsonl/);
  });
});

async function collect2(it: AsyncGenerator<JsonlLine>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}
