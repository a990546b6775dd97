/**
 * Eval datasets of the node: chat JSONL files (one `{messages: [{role, content}, ...]}` per line)
 * checked line by line on upload (400 naming the line and field) and read back for eval jobs.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ChatExample, ChatMessage } from '../src/engine/types.ts';
import { HttpError } from './http.ts';

/** Parses one JSONL line into a chat example; the error names `file`, the 1-based `line` and the field. */
export function parseChatLine(text: string, line: number, file: string): ChatExample {
  const where = `${file} line ${line}`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `${where}: not valid JSON (${(e as Error).message}).`);
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new HttpError(400, `${where}: expected a JSON object with "messages".`);
  if (!Array.isArray(o.messages) || o.messages.length === 0) throw new HttpError(400, `${where}: field "messages" must be a non-empty array.`);
  const messages: ChatMessage[] = o.messages.map((m: unknown, i: number) => {
    const r = m as Record<string, unknown>;
    if (typeof r !== 'object' || r === null) throw new HttpError(400, `${where}: field "messages[${i}]" must be an object.`);
    if (r.role !== 'system' && r.role !== 'user' && r.role !== 'assistant') {
      throw new HttpError(400, `${where}: field "messages[${i}].role" must be system, user or assistant, got ${JSON.stringify(r.role)}.`);
    }
    if (typeof r.content !== 'string') throw new HttpError(400, `${where}: field "messages[${i}].content" must be a string.`);
    return { role: r.role, content: r.content };
  });
  if (messages[messages.length - 1].role !== 'assistant') throw new HttpError(400, `${where}: field "messages" must end with an assistant turn (the golden answer).`);
  const ex: ChatExample = { messages };
  if (typeof o.metadata === 'object' && o.metadata !== null && !Array.isArray(o.metadata)) ex.metadata = o.metadata as Record<string, unknown>;
  return ex;
}

/** Reads a chat JSONL file (streamed line by line), at most `limit` examples. */
export async function readChatJsonl(path: string, name: string, limit = Infinity): Promise<ChatExample[]> {
  const out: ChatExample[] = [];
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    if (out.length >= limit) break;
    out.push(parseChatLine(text, line, name));
  }
  rl.close();
  return out;
}

/** Counts the examples of a chat JSONL file, validating every line; 400 when there are none. */
export async function validateChatJsonl(path: string, name: string): Promise<number> {
  let n = 0;
  let line = 0;
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    parseChatLine(text, line, name);
    n++;
  }
  if (n === 0) throw new HttpError(400, `${name}: the file holds no examples.`);
  return n;
}
