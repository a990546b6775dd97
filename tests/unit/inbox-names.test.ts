// Inbox naming: a file inside a dropped folder keeps its sub-folder names in its item's name (`{stem}_{subfolder}`),
// `_{n}` on a clash within one drop; a loose file or one at the folder's top keeps its name.
import { describe, expect, it } from 'vitest';
import { inboxName, partitionFiles, uniqueNames } from '../../src/ui/lib/dropped-files.ts';

describe('inbox names', () => {
  it('keeps the sub-folder names after the stem', () => {
    expect(inboxName('data/top.jsonl')).toBe('top.jsonl');
    expect(inboxName('loose.jsonl')).toBe('loose.jsonl');
    expect(inboxName('data/arith/train.jsonl')).toBe('train_arith.jsonl');
    expect(inboxName('data/a/b/x.json')).toBe('x_a_b.json');
    expect(inboxName('data/v1.2/x.y.jsonl')).toBe('x.y_v1.2.jsonl');
  });

  it('adds _n on a clash within one drop', () => {
    expect(uniqueNames(['x_a_b.jsonl', 'x_a_b.jsonl', 'y.jsonl', 'x_a_b.jsonl'])).toEqual(['x_a_b.jsonl', 'x_a_b_2.jsonl', 'y.jsonl', 'x_a_b_3.jsonl']);
    expect(uniqueNames(['x_2.jsonl', 'x.jsonl', 'x.jsonl'])).toEqual(['x_2.jsonl', 'x.jsonl', 'x_3.jsonl']);
  });

  it('names the files of a picked folder from their relative paths, content unchanged', async () => {
    const file = (path: string, text: string) => Object.defineProperty(new File([text], path.split('/').pop()!), 'webkitRelativePath', { value: path });
    const r = partitionFiles([file('d/top.jsonl', 'a'), file('d/a_b/x.jsonl', 'b'), file('d/a/b/x.jsonl', 'c'), file('d/a/notes.txt', 'n')]);
    expect(r.files.map((f) => f.name)).toEqual(['top.jsonl', 'x_a_b.jsonl', 'x_a_b_2.jsonl']);
    expect(await Promise.all(r.files.map((f) => f.text()))).toEqual(['a', 'b', 'c']);
    expect(r.ignored).toEqual(['d/a/notes.txt']);
  });
});
