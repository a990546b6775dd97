/**
 * Zip handling of model uploads: one top folder stripped, nested files kept, unsafe paths (zip slip)
 * and corrupt or non-zip data refused with 400, unzipped size capped with 413 (zip bombs); and the nvidia-smi row parser behind /gpu and /health.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { extractZip } from '../../server/upload.ts';
import { HttpError } from '../../server/http.ts';
import { tempDir } from './server-fixture.ts';

const enc = (s: string) => new TextEncoder().encode(s);

function zipFile(files: Record<string, Uint8Array>, level: 0 | 6 = 6): string {
  const path = join(tempDir('zip-'), 'a.zip');
  writeFileSync(path, zipSync(files, { level }));
  return path;
}

async function rejection(p: Promise<unknown>): Promise<HttpError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(HttpError);
  return e as HttpError;
}

describe('extractZip', () => {
  it('strips one common top folder and keeps nested files', async () => {
    const dest = join(tempDir('unzip-'), 'out');
    const names = await extractZip(zipFile({ 'ckpt/config.json': enc('{}'), 'ckpt/sub/a.txt': enc('A') }), dest);
    expect(names.sort()).toEqual(['config.json', join('sub', 'a.txt')]);
    expect(readFileSync(join(dest, 'sub', 'a.txt'), 'utf8')).toBe('A');
  });

  it('keeps files at the root when there is no common folder', async () => {
    const dest = join(tempDir('unzip-'), 'out');
    await extractZip(zipFile({ 'config.json': enc('{}'), 'model.safetensors': enc('x') }, 0), dest);
    expect(existsSync(join(dest, 'config.json'))).toBe(true);
  });

  it('refuses paths that leave the folder', async () => {
    const root = tempDir('unzip-');
    const e = await rejection(extractZip(zipFile({ '../evil.txt': enc('x'), 'ok.txt': enc('y') }), join(root, 'out')));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/unsafe path/);
    expect(existsSync(join(root, 'evil.txt'))).toBe(false);
  });

  it('refuses data that is not a zip, and an empty file', async () => {
    const dir = tempDir('unzip-');
    writeFileSync(join(dir, 'x.zip'), 'hello world');
    expect((await rejection(extractZip(join(dir, 'x.zip'), join(dir, 'out')))).message).toMatch(/not a zip/);
    writeFileSync(join(dir, 'e.zip'), '');
    expect((await rejection(extractZip(join(dir, 'e.zip'), join(dir, 'out2')))).message).toMatch(/empty/);
  });

  it('caps the unzipped size (413) however small the zip', async () => {
    const path = zipFile({ 'zeros.bin': new Uint8Array(1 << 20) });
    expect(readFileSync(path).length).toBeLessThan(10_000);
    const e = await rejection(extractZip(path, join(tempDir('unzip-'), 'out'), 100_000));
    expect(e.status).toBe(413);
  });
});

describe('parseNvidiaSmiRow', () => {
  it('reads a GPU row and turns [N/A] into null', async () => {
    const { parseNvidiaSmiRow } = await import('../../server/telemetry.ts');
    expect(parseNvidiaSmiRow('NVIDIA GeForce RTX 4090, 550.54.14, 1024, 24564, 37, 45, 68.12, 30')).toEqual({
      name: 'NVIDIA GeForce RTX 4090', driver: '550.54.14', memory_used_gb: 1, memory_total_gb: 23.99, utilization_percent: 37, temperature_c: 45, power_w: 68.12, fan_percent: 30,
    });
    expect(parseNvidiaSmiRow('NVIDIA H200, 560.35.03, 0, 143771, 0, 30, 75.5, [N/A]').fan_percent).toBeNull();
  });
});
