/**
 * `regime3 build-codebook --data FILE --size N --out FILE [--merges M] [--min-count C]`,
 * `regime3 encode --codebook FILE`, `regime3 decode --codebook FILE`: encode and decode read stdin and
 * write stdout line for line; a bad line gives `line N: …` on stderr and an empty line on stdout, the
 * other lines go on, and the exit code is 1 at the end.
 */
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { CliError, numberFlag, parseArgs, requiredFlag } from '../args.ts';
import { readLines } from '../../engine/data/jsonl.ts';
import { normalizeRow } from '../../engine/data/normalize.ts';
import { openFileStream } from '../../engine/data/node-io.ts';
import { type Codebook, buildCodebook, loadCodebook } from '../../regime3/codebook.ts';
import { readCodebookFile } from '../../regime3/codebook-file.ts';
import { decode, encode } from '../../regime3/encode.ts';
import { SexprParseError, parse } from '../../regime3/sexpr.ts';

const USAGE = 'usage: regime3 build-codebook --data FILE --size N --out FILE [--merges M] [--min-count C] | regime3 encode --codebook FILE | regime3 decode --codebook FILE';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'build-codebook') return buildCommand(rest);
  if (sub === 'encode' || sub === 'decode') return streamCommand(sub, rest);
  throw new CliError(`${sub ? `unknown subcommand "${sub}"; ` : ''}${USAGE}`, 2);
}

/** The canonical answers (last assistant message) of a chat JSONL file; a bad row names its line. */
async function readAnswers(path: string): Promise<string[]> {
  const answers: string[] = [];
  for await (const { line, text } of readLines(openFileStream(path).stream)) {
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (e) {
      throw new CliError(`${path}:${line}: not valid JSON (${(e as Error).message})`);
    }
    const r = normalizeRow(row);
    if (!r.ok) throw new CliError(`${path}:${line}: ${r.errors[0].field} ${r.errors[0].message}`);
    const msgs = r.example.messages;
    const last = msgs[msgs.length - 1];
    if (last.role !== 'assistant') throw new CliError(`${path}:${line}: messages[${msgs.length - 1}].role the last message must be the assistant answer`);
    try {
      parse(last.content);
    } catch (e) {
      if (e instanceof SexprParseError) throw new CliError(`${path}:${line}: messages[${msgs.length - 1}].content is not a canonical S-expression: ${e.message}`);
      throw e;
    }
    answers.push(last.content);
  }
  return answers;
}

async function buildCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['data', 'size', 'out', 'merges', 'min-count']);
  const data = requiredFlag(args, 'data');
  const out = requiredFlag(args, 'out');
  const size = numberFlag(args, 'size', { integer: true, min: 2 });
  if (size === undefined) throw new CliError('missing required option --size', 2);
  const merges = numberFlag(args, 'merges', { integer: true, min: 0 });
  const minCount = numberFlag(args, 'min-count', { integer: true, min: 1 });
  const answers = await readAnswers(data);
  let book;
  try {
    book = buildCodebook(answers, { size, merges, minCount }, data);
  } catch (e) {
    throw new CliError(`${data}: ${(e as Error).message}`);
  }
  writeFileSync(out, codebookJson(book));
  const merged = book.entries.filter((e) => 'merge' in e).length;
  process.stderr.write(`codebook: ${book.size} codes (${book.size - merged} tokens, ${merged} merges) from ${answers.length} expressions → ${out}\n`);
  return 0;
}

/** The codebook JSON with one entry a line, so it diffs and reads well. */
function codebookJson(book: ReturnType<typeof buildCodebook>): string {
  const { entries, ...head } = book;
  const top = JSON.stringify(head).slice(0, -1);
  return `${top},"entries":[\n${entries.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`;
}

function readCodebook(path: string): Codebook {
  return loadCodebook(readCodebookFile(path), path);
}

async function streamCommand(kind: 'encode' | 'decode', argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['codebook']);
  const book = readCodebook(requiredFlag(args, 'codebook'));
  const convert = kind === 'encode' ? (s: string) => encode(book, s) : (s: string) => decode(book, s);
  let failed = 0;
  let lineNo = 0;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    lineNo++;
    let out = '';
    try {
      out = convert(line);
    } catch (e) {
      failed++;
      process.stderr.write(`line ${lineNo}: ${(e as Error).message}\n`);
    }
    if (!process.stdout.write(`${out}\n`)) await new Promise((r) => process.stdout.once('drain', r));
  }
  if (failed > 0) process.stderr.write(`${kind}: ${failed} of ${lineNo} lines failed\n`);
  return failed > 0 ? 1 : 0;
}
