/**
 * Accepted JSONL row shapes, each normalised to a ChatExample: OpenAI chat `{messages, metadata?}`,
 * `{prompt, response}` / `{prompt, completion}`, ShareGPT `{conversations: [{from, value}]}` and Alpaca
 * `{instruction, input?, output}`. Problems come back as values with the field path (`messages[2].role`).
 */
import type { ChatExample, ChatMessage, Role } from '../types.ts';

export type RowShape = 'openai' | 'prompt_response' | 'prompt_completion' | 'sharegpt' | 'alpaca';

export interface FieldError {
  /** Path of the offending field; `$` for the row itself. */
  field: string;
  message: string;
  /** Set on a chat control token inside content (counted apart by the validator's warnings). */
  code?: 'control_token';
}

export type NormalizeResult = { ok: true; shape: RowShape; example: ChatExample } | { ok: false; errors: FieldError[] };

const ROLES: readonly Role[] = ['system', 'user', 'assistant'];
const SHAREGPT_ROLES: Record<string, Role> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', system: 'system' };
/** Chat control tokens that would break the conversation's structure if they appeared in content. */
const CONTROL_TOKENS = ['<|im_start|>', '<|im_end|>', '<|endoftext|>'];
export const ACCEPTED_SHAPES =
  '{"messages":[{"role","content"}]}, {"prompt","response"}, {"prompt","completion"}, {"conversations":[{"from","value"}]} or {"instruction","input","output"}';

/** Normalises one parsed JSON row. Never throws. */
export function normalizeRow(row: unknown): NormalizeResult {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    return fail('$', `row must be a JSON object, got ${describe(row)}`);
  }
  const r = row as Record<string, unknown>;
  const errors: FieldError[] = [];
  let shape: RowShape;
  let messages: ChatMessage[];
  if ('messages' in r) {
    shape = 'openai';
    messages = readMessageList(r.messages, 'messages', 'role', 'content', errors, (role) => (ROLES.includes(role as Role) ? (role as Role) : undefined), 'system, user, assistant');
  } else if ('conversations' in r) {
    shape = 'sharegpt';
    messages = readMessageList(r.conversations, 'conversations', 'from', 'value', errors, (from) => SHAREGPT_ROLES[from], Object.keys(SHAREGPT_ROLES).join(', '));
  } else if ('prompt' in r && ('response' in r || 'completion' in r)) {
    const answerKey = 'response' in r ? 'response' : 'completion';
    shape = answerKey === 'response' ? 'prompt_response' : 'prompt_completion';
    messages = [];
    pushSystem(r, messages, errors);
    const prompt = readContent(r.prompt, 'prompt', errors);
    const answer = readContent(r[answerKey], answerKey, errors);
    messages.push({ role: 'user', content: prompt }, { role: 'assistant', content: answer });
  } else if ('instruction' in r && 'output' in r) {
    shape = 'alpaca';
    messages = [];
    pushSystem(r, messages, errors);
    const instruction = readContent(r.instruction, 'instruction', errors);
    let input = '';
    if (r.input !== undefined && r.input !== null) {
      if (typeof r.input !== 'string') errors.push({ field: 'input', message: `input must be a string, got ${describe(r.input)}` });
      else input = r.input;
    }
    const output = readContent(r.output, 'output', errors);
    messages.push({ role: 'user', content: input.trim() ? `${instruction}\n\n${input}` : instruction }, { role: 'assistant', content: output });
  } else {
    const keys = Object.keys(r);
    return fail('$', `unknown row shape (keys: ${keys.length ? keys.join(', ') : 'none'}); expected ${ACCEPTED_SHAPES}`);
  }
  let metadata: Record<string, unknown> | undefined;
  if (r.metadata !== undefined && r.metadata !== null) {
    if (typeof r.metadata !== 'object' || Array.isArray(r.metadata)) errors.push({ field: 'metadata', message: `metadata must be an object, got ${describe(r.metadata)}` });
    else metadata = r.metadata as Record<string, unknown>;
  }
  if (errors.length === 0 && !messages.some((m) => m.role === 'assistant')) {
    errors.push({ field: shape === 'sharegpt' ? 'conversations' : 'messages', message: 'no assistant turn: nothing to train on' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, shape, example: metadata ? { messages, metadata } : { messages } };
}

function readMessageList(
  list: unknown,
  key: string,
  roleKey: string,
  contentKey: string,
  errors: FieldError[],
  mapRole: (r: string) => Role | undefined,
  allowed: string,
): ChatMessage[] {
  if (!Array.isArray(list)) {
    errors.push({ field: key, message: `${key} must be an array of messages, got ${describe(list)}` });
    return [];
  }
  if (list.length === 0) {
    errors.push({ field: key, message: `${key} is empty` });
    return [];
  }
  const out: ChatMessage[] = [];
  list.forEach((m, i) => {
    const at = `${key}[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      errors.push({ field: at, message: `${at} must be an object with ${roleKey} and ${contentKey}, got ${describe(m)}` });
      return;
    }
    const msg = m as Record<string, unknown>;
    const rawRole = msg[roleKey];
    const role = typeof rawRole === 'string' ? mapRole(rawRole) : undefined;
    if (role === undefined) {
      const got = rawRole === undefined ? 'missing' : typeof rawRole === 'string' ? `"${rawRole}"` : describe(rawRole);
      errors.push({ field: `${at}.${roleKey}`, message: `${at}.${roleKey} is ${got}; expected one of ${allowed}` });
    }
    const content = readContent(msg[contentKey], `${at}.${contentKey}`, errors);
    if (role) out.push({ role, content });
  });
  return out;
}

function readContent(v: unknown, field: string, errors: FieldError[]): string {
  if (typeof v !== 'string') {
    errors.push({ field, message: `${field} must be a string, got ${v === undefined ? 'nothing (missing)' : describe(v)}` });
    return '';
  }
  if (v.trim().length === 0) {
    errors.push({ field, message: `${field} is empty` });
    return v;
  }
  const control = CONTROL_TOKENS.find((t) => v.includes(t));
  if (control) errors.push({ field, message: `${field} contains the chat control token ${control}`, code: 'control_token' });
  return v;
}

function pushSystem(r: Record<string, unknown>, messages: ChatMessage[], errors: FieldError[]): void {
  if (r.system === undefined || r.system === null || r.system === '') return;
  messages.push({ role: 'system', content: readContent(r.system, 'system', errors) });
}

function fail(field: string, message: string): NormalizeResult {
  return { ok: false, errors: [{ field, message }] };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length === 0 ? 'an empty string' : 'a string';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
