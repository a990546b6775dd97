// Shared helpers of the browser tests: tiny chat-format JSONL generated in the test, and page waits.
import { expect, type Page } from '@playwright/test';

/** `n` chat examples that a tiny model can learn quickly (a fixed mapping, repeated). */
export function chatJsonl(n: number, seed = 0): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i + seed) % 7;
    const b = (i * 3 + seed) % 5;
    lines.push(
      JSON.stringify({
        messages: [
          { role: 'user', content: `add ${a} ${b}` },
          { role: 'assistant', content: `${a + b}` },
        ],
        metadata: { skill: 'add', source: 'e2e' },
      }),
    );
  }
  return lines.join('\n') + '\n';
}

/** A file with good lines and two bad ones (line 2: not JSON; line 4: no assistant turn). */
export function invalidJsonl(): string {
  return [
    JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }),
    '{"messages": [ this is not json',
    JSON.stringify({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] }),
    JSON.stringify({ messages: [{ role: 'user', content: 'only a question' }] }),
  ].join('\n') + '\n';
}

export async function dropFiles(page: Page, files: { name: string; text: string }[], priority: 'high' | 'normal' | 'low' = 'normal'): Promise<void> {
  if (!(await page.getByTestId('priority-select').isVisible())) await openTab(page, 'training');
  await page.getByTestId('priority-select').selectOption(priority);
  await page.getByTestId('file-input').setInputFiles(files.map((f) => ({ name: f.name, mimeType: 'application/jsonl', buffer: Buffer.from(f.text) })));
}

export function item(page: Page, name: string) {
  return page.locator(`[data-testid="queue-item"][data-name="${name}"]`);
}

/** Current global step shown by the page. */
export async function shownStep(page: Page): Promise<number> {
  return Number(await page.getByTestId('train-step').getAttribute('data-step'));
}

export async function waitForStepAtLeast(page: Page, step: number, timeout = 120_000): Promise<void> {
  await expect.poll(() => shownStep(page), { timeout, intervals: [500] }).toBeGreaterThanOrEqual(step);
}

/** Collects page errors and console errors so a test can assert none happened. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

export type TabName = 'training' | 'data' | 'evaluation' | 'node' | 'storage' | 'settings';

/** Shows one of the page's tabs (every panel stays mounted; those of other tabs are hidden). */
export async function openTab(page: Page, name: TabName): Promise<void> {
  const tab = page.getByTestId(`tab-${name}`);
  await tab.click();
  await expect(tab).toHaveAttribute('aria-selected', 'true');
}

/** Sets training-config fields through the page's config editor (tiny, fast settings for tests), then goes back to the Training tab. */
export async function setConfig(page: Page, values: Record<string, string | boolean>): Promise<void> {
  await openTab(page, 'settings');
  await page.getByTestId('btn-config').click();
  for (const [k, v] of Object.entries(values)) {
    const input = page.getByTestId(`config-${k}`);
    if (typeof v === 'boolean') await input.setChecked(v);
    else await input.fill(v);
  }
  await page.getByTestId('btn-config-save').click();
  await expect(page.getByTestId('notice')).toContainText('Config saved');
  await page.getByTestId('btn-config').click();
  await openTab(page, 'training');
}

/** Tiny, fast training settings: short sequences, small batches, frequent logs and checkpoints. */
export const FAST = { batchSize: '2', gradAccumSteps: '1', maxLength: '48', learningRate: '0.003', warmupSteps: '2', logEvery: '1', saveSteps: '4', evalSteps: '0' };

/** The global step a loss-chart point or the page reads; the last logged loss. */
export async function shownLoss(page: Page): Promise<number | null> {
  const v = await page.getByTestId('train-loss').getAttribute('data-loss');
  return v ? Number(v) : null;
}

/** A companion inference node (`server/main.ts`) run by a test as a child process on 127.0.0.1. */
export interface RunningNode {
  url: string;
  dataDir: string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

export async function startInferenceNode(opts: { adminKey: string; readKey?: string }): Promise<RunningNode> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dataDir = mkdtempSync(join(tmpdir(), 'e2e-inference-node-'));
  const child = spawn(join(process.cwd(), 'node_modules', '.bin', 'tsx'), ['server/main.ts', '--port', '0', '--host', '127.0.0.1', '--data', dataDir], {
    env: { ...process.env, INFERENCE_ADMIN_KEY: opts.adminKey, INFERENCE_READ_KEY: opts.readKey ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the inference node did not print its URL in 60 s: ${err}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0].trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the inference node exited (${code}) before printing its URL: ${err}`));
    });
  });
  return {
    url,
    dataDir,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
