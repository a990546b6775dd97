// The Samples panel compiled with Svelte's compiler and rendered on the server: each sample shows its profile
// outcome (emoji_think's contract, regime3's result and decode-failure reason) and the panel counts them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compile } from 'svelte/compiler';
import { render } from 'svelte/server';
import type { Component } from 'svelte';
import { describe, expect, it } from 'vitest';
import type { SampleRow } from '../../src/store/db.ts';

const OUT = join(process.cwd(), '.tmp', 'ui-samples-render');
const FILE = 'src/ui/components/Samples.svelte';

async function samplesPanel(): Promise<Component<Record<string, unknown>>> {
  mkdirSync(OUT, { recursive: true });
  const { js, warnings } = compile(readFileSync(FILE, 'utf8'), { generate: 'server', filename: FILE });
  expect(warnings.map((w) => w.message)).toEqual([]);
  writeFileSync(join(OUT, 'Samples.js'), js.code.replace(/from '(\.{1,2}\/[^']+)'/g, (_, p: string) => `from '${resolve(dirname(FILE), p)}'`));
  return ((await import(join(OUT, 'Samples.js'))) as { default: Component<Record<string, unknown>> }).default;
}

const row = (id: number, over: Partial<SampleRow>): SampleRow => ({
  id, modelId: 'm', step: id * 10, time: 0, itemId: 1, prompt: 'q', golden: 'g', answer: 'a', match: false, stopReason: 'eos', ms: 5, ...over,
});
const accuracy = { overall: 0.5, last20: 0.5, last50: 0.5, trend: 'unknown', total: 3 };

describe('Samples panel', () => {
  it('shows each sample\'s outcome with its detail and counts them', async () => {
    const Samples = await samplesPanel();
    const samples = [
      row(1, { outcome: { kind: 'emoji_contract', thinkEmoji: '🤔', thinkCount: 3, stopEmoji: '🛑', stopCount: 2, followed: true } }),
      row(2, { outcome: { kind: 'emoji_contract', thinkEmoji: null, thinkCount: 0, stopEmoji: null, stopCount: 0, followed: false } }),
      row(3, { outcome: { kind: 'regime3', result: 'decode_failure', reason: 'a list was left open' } }),
    ];
    const html = render(Samples, { props: { samples, accuracy } }).body.replace(/<!--[^>]*-->/g, '').replace(/ class="svelte-\w+"/g, '');
    expect(html.match(/data-testid="sample-outcomes"[^>]*>(.*?)<\/p>/)![1].replace(/<\/?b>/g, '')).toBe('contract followed 1 · contract broken 1 · decode failure 1');
    expect([...html.matchAll(/data-testid="sample-outcome"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(['decode failure', 'contract broken', 'contract followed']);
    // the latest sample (the decode failure) shows its reason in full; the contract's detail is in the badge's title
    expect(html).toContain('<dt>reason</dt><dd>a list was left open</dd>');
    expect(html).toContain('title="think 🤔×3, stop 🛑×2"');
  });
});
