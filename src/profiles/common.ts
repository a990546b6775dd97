/** Small helpers shared by the profiles: system prompt placement, date filling, answer lookup. */
import { ValidationError } from '../engine/errors.ts';
import type { ChatExample, ChatMessage } from '../engine/types.ts';
import type { ProfileIssue } from './types.ts';

/** `YYYY-MM-DD` in UTC, the form `{date}` is filled with. */
export function formatDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function fillDate(template: string, date: Date): string {
  return template.replaceAll('{date}', formatDate(date));
}

/** Copies the messages, putting `prompt` first as the system message (replacing one that is there when `replace`). */
export function withSystem(messages: readonly ChatMessage[], prompt: string | null, replace: boolean): ChatMessage[] {
  const copy = messages.map((m) => ({ ...m }));
  if (prompt === null) return copy;
  const hasSystem = copy.length > 0 && copy[0].role === 'system';
  if (hasSystem && !replace) return copy;
  const rest = hasSystem ? copy.slice(1) : copy;
  return [{ role: 'system', content: prompt }, ...rest];
}

export function lastIndexOfRole(messages: readonly ChatMessage[], role: ChatMessage['role']): number {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === role) return i;
  return -1;
}

/** Shape problems every profile shares: messages present, roles and contents valid, a final assistant turn. */
export function basicIssues(example: ChatExample): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  if (!example || !Array.isArray(example.messages) || example.messages.length === 0) {
    return [{ field: 'messages', message: 'must be a non-empty array of {role, content}' }];
  }
  example.messages.forEach((m, i) => {
    if (!m || !['system', 'user', 'assistant'].includes(m.role)) {
      issues.push({ field: `messages[${i}].role`, message: 'must be "system", "user" or "assistant"' });
    }
    if (!m || typeof m.content !== 'string') issues.push({ field: `messages[${i}].content`, message: 'must be a string' });
  });
  if (issues.length === 0 && example.messages[example.messages.length - 1].role !== 'assistant') {
    issues.push({ field: `messages[${example.messages.length - 1}].role`, message: 'the last message must be the assistant answer' });
  }
  return issues;
}

/** Throws a ValidationError for the first issue (transform's way of refusing an example). */
export function throwIfIssues(profile: string, index: number, issues: readonly ProfileIssue[]): void {
  if (issues.length === 0) return;
  const first = issues[0];
  throw new ValidationError(`${profile}: example ${index}: ${first.field} ${first.message}`, undefined, undefined, first.field);
}
