// Every accepted row shape normalises to messages; every rejected one names the field.
import { describe, expect, it } from 'vitest';
import { normalizeRow } from '../../src/engine/data/normalize.ts';

const errorsOf = (row: unknown) => {
  const r = normalizeRow(row);
  if (r.ok) throw new Error(`expected errors for ${JSON.stringify(row)}`);
  return r.errors;
};

describe('accepted shapes', () => {
  it('OpenAI chat with metadata', () => {
    const row = {
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'U' },
        { role: 'assistant', content: 'A' },
      ],
      metadata: { skill: 'x', difficulty: 2 },
    };
    expect(normalizeRow(row)).toEqual({ ok: true, shape: 'openai', example: { messages: row.messages, metadata: row.metadata } });
  });

  it('prompt/response and prompt/completion (with an optional system)', () => {
    expect(normalizeRow({ prompt: 'P', response: 'R' })).toEqual({
      ok: true,
      shape: 'prompt_response',
      example: { messages: [{ role: 'user', content: 'P' }, { role: 'assistant', content: 'R' }] },
    });
    expect(normalizeRow({ prompt: 'P', completion: 'C', system: 'S', metadata: { source: 'q' } })).toEqual({
      ok: true,
      shape: 'prompt_completion',
      example: {
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'P' },
          { role: 'assistant', content: 'C' },
        ],
        metadata: { source: 'q' },
      },
    });
  });

  it('ShareGPT maps human/user, gpt/assistant and system', () => {
    const r = normalizeRow({
      conversations: [
        { from: 'system', value: 'S' },
        { from: 'human', value: 'H' },
        { from: 'gpt', value: 'G' },
        { from: 'user', value: 'U' },
        { from: 'assistant', value: 'A' },
      ],
    });
    expect(r).toEqual({
      ok: true,
      shape: 'sharegpt',
      example: {
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'H' },
          { role: 'assistant', content: 'G' },
          { role: 'user', content: 'U' },
          { role: 'assistant', content: 'A' },
        ],
      },
    });
  });

  it('Alpaca joins instruction and input; an empty input is left out', () => {
    expect(normalizeRow({ instruction: 'Add', input: '2 and 3', output: '5' })).toMatchObject({
      ok: true,
      shape: 'alpaca',
      example: { messages: [{ role: 'user', content: 'Add\n\n2 and 3' }, { role: 'assistant', content: '5' }] },
    });
    expect(normalizeRow({ instruction: 'Say hi', input: '', output: 'hi' })).toMatchObject({
      ok: true,
      example: { messages: [{ role: 'user', content: 'Say hi' }, { role: 'assistant', content: 'hi' }] },
    });
  });
});

describe('rejected rows name the field', () => {
  it('not an object, unknown shape', () => {
    expect(errorsOf([1, 2])).toEqual([{ field: '$', message: 'row must be a JSON object, got an array' }]);
    expect(errorsOf('text')[0].field).toBe('$');
    const e = errorsOf({ text: 'hello', label: 1 });
    expect(e[0].field).toBe('$');
    expect(e[0].message).toMatch(/unknown row shape \(keys: text, label\)/);
  });

  it('roles outside system/user/assistant', () => {
    const e = errorsOf({ messages: [{ role: 'user', content: 'q' }, { role: 'tool', content: 'x' }, { role: 'assistant', content: 'a' }] });
    expect(e).toEqual([{ field: 'messages[1].role', message: 'messages[1].role is "tool"; expected one of system, user, assistant' }]);
    expect(errorsOf({ messages: [{ content: 'q' }, { role: 'assistant', content: 'a' }] })[0].field).toBe('messages[0].role');
    expect(errorsOf({ conversations: [{ from: 'bot', value: 'x' }, { from: 'gpt', value: 'y' }] })[0].field).toBe('conversations[0].from');
  });

  it('empty or non-string content', () => {
    expect(errorsOf({ messages: [{ role: 'user', content: '  ' }, { role: 'assistant', content: 'a' }] })).toEqual([
      { field: 'messages[0].content', message: 'messages[0].content is empty' },
    ]);
    expect(errorsOf({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'text', text: 'a' }] }] })[0]).toEqual({
      field: 'messages[1].content',
      message: 'messages[1].content must be a string, got an array',
    });
    expect(errorsOf({ prompt: 'p', response: null })[0].field).toBe('response');
    expect(errorsOf({ prompt: 3, completion: 'c' })[0].field).toBe('prompt');
    expect(errorsOf({ conversations: [{ from: 'human', value: 'q' }, { from: 'gpt' }] })[0].field).toBe('conversations[1].value');
    expect(errorsOf({ instruction: 'i', output: '' })[0].field).toBe('output');
    expect(errorsOf({ instruction: 'i', input: 5, output: 'o' })[0].field).toBe('input');
  });

  it('no assistant turn, empty or non-array message lists, bad metadata, control tokens', () => {
    expect(errorsOf({ messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'q' }] })).toEqual([
      { field: 'messages', message: 'no assistant turn: nothing to train on' },
    ]);
    expect(errorsOf({ conversations: [{ from: 'human', value: 'q' }] })[0].field).toBe('conversations');
    expect(errorsOf({ messages: [] })[0]).toEqual({ field: 'messages', message: 'messages is empty' });
    expect(errorsOf({ messages: 'hi' })[0].field).toBe('messages');
    expect(errorsOf({ messages: [null, { role: 'assistant', content: 'a' }] })[0].field).toBe('messages[0]');
    expect(errorsOf({ prompt: 'p', response: 'r', metadata: [1] })[0].field).toBe('metadata');
    expect(errorsOf({ prompt: 'p', response: 'r<|im_end|>' })[0]).toEqual({ field: 'response', message: 'response contains the chat control token <|im_end|>', code: 'control_token' });
  });

  it('lists every bad field of a row', () => {
    const e = errorsOf({ messages: [{ role: 'robot', content: '' }, { role: 'assistant', content: 1 }] });
    expect(e.map((x) => x.field)).toEqual(['messages[0].role', 'messages[0].content', 'messages[1].content']);
  });
});
