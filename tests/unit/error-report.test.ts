// A failed file's downloadable error report holds every line error (validated as the file streams), not the first 50
// the queue row lists.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { chatJsonl, tinyModelFolder } from './daemon-fixture.ts';
import type { ChatTokenizer } from '../../src/engine/types.ts';

let tokenizer: ChatTokenizer;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tokenizer = await loadTokenizerFrom(await tinyModelFolder(5));
});

const freshDb = scratchDbs('error-report-test');

describe('error report', () => {
  it('lists every line error of a failed file', async () => {
    const db = freshDb();
    const validated: Promise<unknown>[] = [];
    const api = createWorkbenchApi({ db, validate: (ids) => ids.forEach((id) => validated.push(validateItem(db, id, { tokenizer, template: 'stock' }))) });
    const bad = Array.from({ length: 120 }, (_, i) => (i % 2 ? 'not json' : '{"messages": "nope"}')).join('\n');
    const [res] = await api.addFiles([{ name: 'bad.jsonl', blob: new Blob([chatJsonl(3) + bad + '\n']) }], { priority: 'normal' });
    await Promise.all(validated);
    const row = (await db.queue.get(res.itemId!))!;
    expect(row.status).toBe('failed');
    expect(row.lineErrors).toHaveLength(50);
    expect(row.lineErrorCount).toBe(120);
    const report = await api.downloadErrorReport(res.itemId!);
    const text = await report.blob.text();
    expect(report.fileName).toBe('bad.errors.txt');
    expect(text).toContain('Line errors: 120\n');
    const lines = [...text.matchAll(/^line (\d+)/gm)].map((m) => Number(m[1]));
    expect(lines).toHaveLength(120);
    expect(lines[0]).toBe(4);
    expect(lines.at(-1)).toBe(123);
  });
});
