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

/** Sets training-config fields through the page's config editor (tiny, fast settings for tests). */
export async function setConfig(page: Page, values: Record<string, string | boolean>): Promise<void> {
  await page.getByTestId('btn-config').click();
  for (const [k, v] of Object.entries(values)) {
    const input = page.getByTestId(`config-${k}`);
    if (typeof v === 'boolean') await input.setChecked(v);
    else await input.fill(v);
  }
  await page.getByTestId('btn-config-save').click();
  await expect(page.getByTestId('notice')).toContainText('Config saved');
  await page.getByTestId('btn-config').click();
}

/** Tiny, fast training settings: short sequences, small batches, frequent logs and checkpoints. */
export const FAST = { batchSize: '2', gradAccumSteps: '1', maxLength: '48', learningRate: '0.003', warmupSteps: '2', logEvery: '1', saveSteps: '4', evalSteps: '0' };

/** The global step a loss-chart point or the page reads; the last logged loss. */
export async function shownLoss(page: Page): Promise<number | null> {
  const v = await page.getByTestId('train-loss').getAttribute('data-loss');
  return v ? Number(v) : null;
}
