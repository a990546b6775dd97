/**
 * `npm run inference-node` as a process: `--port 0` takes a free port, the data folder is created, stdout
 * carries only the URL, keys come from the environment, SIGTERM stops it cleanly; bad options exit 2.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));
const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');

describe('inference-node CLI', () => {
  it('starts on a free port, prints only its URL and stops on SIGTERM', async () => {
    const data = join(tempDir('node-cli-'), 'nested', 'data');
    const child = spawn(TSX, ['server/main.ts', '--port', '0', '--data', data], {
      env: { ...process.env, INFERENCE_ADMIN_KEY: 'cli-admin', INFERENCE_READ_KEY: 'cli-read' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(existsSync(join(data, 'node.sqlite'))).toBe(true);
      expect(((await (await fetch(`${url}/health`)).json()) as { status: string }).status).toBe('ok');
      expect((await fetch(`${url}/models`, { headers: { 'X-API-Key': 'cli-read' } })).status).toBe(200);
      expect((await fetch(`${url}/logs/server`, { headers: { 'X-API-Key': 'cli-read' } })).status).toBe(403);
      expect((await fetch(`${url}/logs/server`, { headers: { 'X-API-Key': 'cli-admin' } })).status).toBe(200);
    } finally {
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(out).toBe(`${url}\n`);
  });

  it('exits 2 with the usage on an unknown option', async () => {
    const child = spawn(TSX, ['server/main.ts', '--data', tempDir('node-cli-'), '--bogus', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(err).toMatch(/unknown option --bogus/);
  });
});
