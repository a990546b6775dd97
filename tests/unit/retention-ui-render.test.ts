// The retention preview panel compiled with Svelte's compiler and rendered on the server from a real dry run of the
// planner: what would go (with why) and every kept checkpoint (with every rule) carry their data-testids.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compile } from 'svelte/compiler';
import { render } from 'svelte/server';
import type { Component } from 'svelte';
import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionCheckpoint } from '../../src/store/retention.ts';
import type { RetentionPreview } from '../../src/daemon/api.ts';

const OUT = join(process.cwd(), '.tmp', 'retention-ui-render');
const FILE = 'src/ui/components/RetentionPreview.svelte';

async function component(): Promise<Component<Record<string, unknown>>> {
  mkdirSync(OUT, { recursive: true });
  const { js, warnings } = compile(readFileSync(FILE, 'utf8'), { generate: 'server', filename: FILE });
  expect(warnings.map((w) => w.message)).toEqual([]);
  const code = js.code.replace(/from '(\.{1,2}\/[^']+)'/g, (_, p: string) => `from '${resolve(dirname(FILE), p)}'`);
  writeFileSync(join(OUT, 'RetentionPreview.js'), code);
  return ((await import(join(OUT, 'RetentionPreview.js'))) as { default: Component<Record<string, unknown>> }).default;
}

const GB = 1024 ** 3;
const H = 3_600_000;
const NOW = Date.parse('2026-11-30T21:00:00Z');

describe('RetentionPreview panel', () => {
  it('lists what would go and why each kept checkpoint stays', async () => {
    const C = await component();
    const rows: RetentionCheckpoint[] = [100, 200, 300, 400].map((step, i) => ({ id: `c${step}`, step, createdAt: NOW - (300 - i * 100) * H, bytes: GB, pinned: step === 200 }));
    const policy = { minAgeHours: 36, dailyDays: 7, budgetBytes: 2 * GB };
    const plan = planRetention({ checkpoints: rows, policy, now: NOW, dayOf: (ms) => new Date(ms).toISOString().slice(0, 10) });
    const preview: RetentionPreview = { modelId: 'm', policy, budgetSource: 'retentionBudgetGB = 2', ...plan };
    const html = render(C, { props: { preview, onRefresh: () => undefined } }).body;
    expect(html).toMatch(/data-testid="retention-summary"[^>]*data-delete="1"[^>]*data-keep="3"/);
    expect(html).toContain('Automatic retention would delete 1, freeing 1.0 GB.');
    expect(html).toMatch(/data-testid="retention-delete-item" data-id="c100" data-step="100"/);
    expect(html).toMatch(/took 4\.0 GB, over the 2\.0 GB budget/);
    const kept = [...html.matchAll(/data-testid="retention-keep-item" data-id="(\w+)"/g)].map((m) => m[1]);
    expect(kept).toEqual(['c400', 'c300', 'c200']);
    expect(html).toContain('the latest checkpoint of the model; the last checkpoint of today (2026-11-30); younger than 36 hours');
    expect(html).toMatch(/data-id="c200"[^>]*data-protected="true"[\s\S]*?pinned/);
    expect(render(C, { props: { preview: null, onRefresh: () => undefined } }).body).toContain('No active model.');
  });
});
