// The profile preview and regime-3 components (src/ui/profiles) compiled with Svelte's compiler and rendered on the
// server with real data from the daemon's preview api (fake-indexeddb, the fixture tokenizer): the markup carries
// the data-testids and values the page shows. Effects (loading) do not run in server rendering; the e2e suite covers them.
import 'fake-indexeddb/auto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from 'svelte/compiler';
import { render } from 'svelte/server';
import type { Component } from 'svelte';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkbenchDb } from '../../src/store/db.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { createWorkbenchApi, type WorkbenchApi } from '../../src/daemon/api.ts';
import { buildCodebook } from '../../src/regime3/codebook.ts';
import { generateExample } from '../../src/regime3/tasks.ts';
import { readModelConfig } from '../../src/engine/checkpoint.ts';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

const OUT = join(process.cwd(), 'node_modules', '.cache', 'profiles-ui-render');
const NAMES = ['ExampleView', 'Regime3Result', 'CodebookTable', 'ProfilePreview', 'Regime3Pane'];

/** Compiles the components for the server into node_modules/.cache (so `svelte/internal/server` resolves). */
async function components(): Promise<Record<string, Component<Record<string, unknown>>>> {
  mkdirSync(OUT, { recursive: true });
  for (const name of NAMES) {
    const file = `src/ui/profiles/${name}.svelte`;
    const { js, warnings } = compile(readFileSync(file, 'utf8'), { generate: 'server', filename: file });
    expect(warnings.map((w) => w.message)).toEqual([]);
    writeFileSync(join(OUT, `${name}.js`), js.code.replace(/from '\.\/(\w+)\.svelte'/g, "from './$1.js'"));
  }
  const out: Record<string, Component<Record<string, unknown>>> = {};
  for (const name of NAMES) out[name] = ((await import(join(OUT, `${name}.js`))) as { default: Component<Record<string, unknown>> }).default;
  return out;
}

const attrs = (html: string, testid: string) => [...html.matchAll(new RegExp(`<[^>]*data-testid="${testid}"[^>]*>`, 'g'))].map((m) => m[0]);
const attr = (tag: string, name: string) => tag.match(new RegExp(`${name}="([^"]*)"`))?.[1];

let folder: MemFolder;
let db: WorkbenchDb;
let api: WorkbenchApi;
let C: Awaited<ReturnType<typeof components>>;
let itemId: number;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(2);
  db = new WorkbenchDb(`profiles-ui-${Date.now()}`);
  const config = await readModelConfig(folder);
  await db.models.put({ id: 'tiny', name: 'Tiny', config, tokenizerRef: 'mem:', source: 'bundled', baseRef: 'mem:', baseModel: 'tiny', lineage: [], active: 1, step: 0, trained: false, createdAt: 1 });
  expect((await updateTrainConfig(db, { profile: 'regime3', 'regime3.codebookSize': 16, maxLength: 256 })).errors).toEqual([]);
  const text = Array.from({ length: 6 }, (_, i) => JSON.stringify(generateExample('arith', 4, i))).join('\n');
  itemId = (await new Queue(db).add('r.jsonl', new Blob([text]), 'normal', false)).itemId!;
  expect(await validateItem(db, itemId, { tokenizer: await loadTokenizerFrom(folder), template: 'chatml' })).toBe('queued');
  api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder, fallbackTokenizerRef: 'mem:' });
  C = await components();
});
afterAll(async () => {
  await db.delete();
});

describe('profile preview components', () => {
  it('ExampleView shows every token with its trained flag, the counts, the messages and the template text', async () => {
    const data = await api.previewExample(itemId, 2);
    const html = render(C.ExampleView, { props: { data } }).body;
    const toks = attrs(html, 'preview-token');
    expect(toks.length).toBe(data.counts.total);
    expect(toks.map((t) => attr(t, 'data-trained'))).toEqual(data.tokens.map((t) => (t.trained ? '1' : '0')));
    expect(toks.filter((t) => attr(t, 'data-trained') === '1').length).toBe(data.counts.trained);
    const counts = attrs(html, 'preview-counts')[0];
    expect([attr(counts, 'data-total'), attr(counts, 'data-trained'), attr(counts, 'data-masked')]).toEqual([data.counts.total, data.counts.trained, data.counts.masked].map(String));
    expect(html).toContain('&lt;&lt;ANS_START>>'); // the coded answer among the messages
    expect(html).toContain('data-testid="preview-template"');
    expect(html).toContain('data-testid="preview-raw"');
  });

  it('ProfilePreview lists the previewable items; with none it explains what to do', () => {
    const some = render(C.ProfilePreview, { props: { items: [{ id: itemId, name: 'r.jsonl', status: 'queued', report: { examples: 6 } }], load: api.previewExample } }).body;
    expect(some).toContain('data-testid="profile-preview"');
    expect(some).toMatch(/<option[^>]*>r\.jsonl<\/option>/);
    expect(some).toMatch(/of 6/);
    const none = render(C.ProfilePreview, { props: { items: [], load: api.previewExample } }).body;
    expect(none).toContain('Drop a file');
  });

  it('Regime3Result shows codes, decoded form and the ratio; CodebookTable one row per code; the pane renders its input', async () => {
    expect(render(C.Regime3Result, { props: { data: await api.previewRegime3('(add 1 2)') } }).body).toContain('no regime-3 codebook yet');
    const answers = Array.from({ length: 30 }, (_, i) => generateExample('arith', 4, i).messages[1].content);
    await db.models.update('tiny', { codebook: buildCodebook(answers, { size: 16 }) });
    const data = await api.previewRegime3(answers[0]);
    expect(data.preview?.ok).toBe(true);
    const html = render(C.Regime3Result, { props: { data } }).body;
    if (!data.preview?.ok) throw new Error('expected a preview');
    expect(attrs(html, 'regime3-codes')[0]).toBeDefined();
    expect(html).toContain(data.preview.codes.replace(/</g, '&lt;'));
    const ratio = attrs(html, 'regime3-ratio')[0];
    expect(Number(attr(ratio, 'data-before'))).toBe(data.preview.tokensBefore);
    expect(Number(attr(ratio, 'data-after'))).toBe(data.preview.tokensAfter);
    expect(html).toContain(`data-testid="regime3-decoded" class="svelte-`);
    expect(html).toMatch(new RegExp(`data-testid="regime3-decoded"[^>]*>${data.preview.decoded.replace(/[()+]/g, '\\$&')}</dd>`));
    expect(render(C.Regime3Result, { props: { data: await api.previewRegime3('(add 1') } }).body).toContain('data-testid="regime3-error"');
    const book = (await api.codebook())!;
    const table = render(C.CodebookTable, { props: { book } }).body;
    expect(table.match(/data-testid="codebook-row"/g)?.length).toBe(book.rows.length);
    expect([...table.matchAll(/data-code="([^"]*)"/g)].map((m) => m[1].replace(/&lt;/g, '<'))).toEqual(book.rows.map((r) => r.code));
    const pane = render(C.Regime3Pane, { props: { preview: api.previewRegime3, loadCodebook: api.codebook } }).body;
    expect(pane).toContain('data-testid="regime3-input"');
  });
});
