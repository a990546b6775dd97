// The status panel's preparing progress and daemon warnings (LiveStatus) and the memory panel (MemoryEstimate) fed
// by the daemon's preflight, compiled with Svelte's compiler and rendered on the server: the markup carries the
// data-testids and values the page shows.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compile } from 'svelte/compiler';
import { render } from 'svelte/server';
import type { Component } from 'svelte';
import { beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { defaultTrainConfig } from '../../src/engine/config/train-config.ts';
import { deviceMemory, preflight } from '../../src/daemon/preflight.ts';
import type { DaemonStateRow } from '../../src/store/db.ts';

// Not under node_modules: Vitest transforms only files outside it, and the compiled code imports .ts modules.
const OUT = join(process.cwd(), '.tmp', 'ui-status-render');
const FILES = ['src/ui/components/LiveStatus.svelte', 'src/ui/components/Alerts.svelte', 'src/ui/components/MemoryEstimate.svelte'];
type Props = Record<string, unknown>;
let C: Record<string, Component<Props>>;

/** Compiles for the server into .tmp (git-ignored); relative imports of modules point back at src. */
async function components(): Promise<Record<string, Component<Props>>> {
  mkdirSync(OUT, { recursive: true });
  const out: Record<string, Component<Props>> = {};
  for (const file of FILES) {
    const { js, warnings } = compile(readFileSync(file, 'utf8'), { generate: 'server', filename: file });
    expect(warnings.map((w) => w.message)).toEqual([]);
    const code = js.code.replace(/from '(\.{1,2}\/[^']+)'/g, (_, p: string) => (p.endsWith('.svelte') ? `from './${p.split('/').pop()!.replace('.svelte', '.js')}'` : `from '${resolve(dirname(file), p)}'`));
    writeFileSync(join(OUT, file.split('/').pop()!.replace('.svelte', '.js')), code);
  }
  for (const name of ['LiveStatus', 'MemoryEstimate']) out[name] = ((await import(join(OUT, `${name}.js`))) as { default: Component<Props> }).default;
  return out;
}

const tag = (html: string, testid: string) => html.match(new RegExp(`<[^>]*data-testid="${testid}"[^>]*>`))?.[0];
const attr = (t: string | undefined, name: string) => t?.match(new RegExp(`${name}="([^"]*)"`))?.[1];

const daemon = (over: Partial<DaemonStateRow>): DaemonStateRow => ({
  key: 'state', status: 'preparing', currentItemId: null, reason: '', since: 0, heartbeatAt: 0, step: 0, totalSteps: 0, fileStep: 0, fileSteps: 0,
  loss: null, lr: 0, tokensPerSecond: 0, backend: 'wasm', backendReason: '', ...over,
});
const status = (d: DaemonStateRow) =>
  render(C.LiveStatus, { props: { daemon: d, item: undefined, metric: undefined, eta: { file: null, queue: null }, trend: 'unknown', valLoss: null, fileIndex: { n: 1, of: 1 }, onControl: () => undefined } }).body;

beforeAll(async () => {
  C = await components();
});

describe('status panel before the first step', () => {
  it('shows what is being prepared with a progress bar when done/total are known, and the warnings', () => {
    const html = status(daemon({ preparing: { phase: 'loading_weights', message: 'Loading weights: 412 of 2384 MB', done: 412, total: 2384 }, warnings: ['The base model has 3 non-finite weights.', 'Device memory unknown.'] }));
    const prep = tag(html, 'preparing-status');
    expect(attr(prep, 'data-phase')).toBe('loading_weights');
    expect([attr(prep, 'data-done'), attr(prep, 'data-total')]).toEqual(['412', '2384']);
    expect(html).toContain('Loading weights: 412 of 2384 MB');
    expect(attr(tag(html, 'preparing-progress'), 'max')).toBe('2384');
    const list = html.slice(html.indexOf('data-testid="daemon-warnings"'));
    expect(list).toContain('The base model has 3 non-finite weights.');
    expect(list).toContain('Device memory unknown.');
  });

  it('a phase without a count shows its message and no bar; nothing when not preparing and no warnings', () => {
    const html = status(daemon({ preparing: { phase: 'tokenizing', message: 'Tokenizing the file' } }));
    expect(tag(html, 'preparing-status')).toBeDefined();
    expect(html).toContain('Tokenizing the file');
    expect(tag(html, 'preparing-progress')).toBeUndefined();
    const idle = status(daemon({ status: 'training', preparing: null }));
    expect(tag(idle, 'preparing-status')).toBeUndefined();
    expect(tag(idle, 'daemon-warnings')).toBeUndefined();
  });
});

describe('memory panel', () => {
  const GiB = 1024 ** 3;
  const q06 = presetConfig('qwen3-0.6b');
  const panel = (result: ReturnType<typeof preflight>, backend: string, device: ReturnType<typeof deviceMemory>) =>
    render(C.MemoryEstimate, { props: { result, backend, device, onDeviceMemory: () => undefined } }).body;

  it('the 0.6B preset on a known 24 GiB card fits, with the device from the adapter table and its gradient checkpointing counted', () => {
    const device = deviceMemory(null, { vendor: 'nvidia', description: 'NVIDIA GeForce RTX 4090' });
    const result = preflight({ model: q06, train: defaultTrainConfig('qwen3-0.6b'), backend: { name: 'webgpu' }, deviceBytes: device.bytes });
    const html = panel(result, 'webgpu', device);
    expect(attr(tag(html, 'memory-estimate'), 'data-fits')).toBe('true');
    expect(attr(tag(html, 'device-memory'), 'data-source')).toBe('table');
    expect(attr(tag(html, 'device-memory-input'), 'value')).toBe('24');
    expect(html).toContain('NVIDIA RTX 4090');
    expect(tag(html, 'memory-warning')).toBeUndefined();
  });

  it('on wasm the 0.6B is refused with the reason; an unknown adapter asks for the memory', () => {
    const device = deviceMemory(null, null);
    const result = preflight({ model: q06, train: defaultTrainConfig('qwen3-0.6b'), backend: { name: 'wasm' }, deviceBytes: device.bytes });
    const html = panel(result, 'wasm', device);
    expect(attr(tag(html, 'memory-estimate'), 'data-fits')).toBe('false');
    expect(html.slice(html.indexOf('data-testid="memory-warning"'))).toMatch(/wasm heap is 4\.0 GiB/);
    expect(attr(tag(html, 'device-memory'), 'data-source')).toBe('unknown');
    expect(html).toMatch(/enter it/);
    expect(deviceMemory(16 * GiB, null).source).toBe('setting');
  });
});
