// The CLI dispatcher as a process: every command answers --help with its usage on stdout; an unknown command
// is one line on stderr with the valid ones and exit 2.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

const cli = (...args: string[]) => spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

describe('CLI dispatcher', () => {
  it('prints a command\'s usage for --help and exits 0', () => {
    const r = cli('train', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^`train --model DIR --data FILE/);
    expect(r.stdout).toContain('--steps N');
  });

  it('names the valid commands when given an unknown one', () => {
    const r = cli('trian');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe('error: unknown command "trian"; expected one of: make-model, validate, train, logits, generate, gen-data, regime3, export-gguf');
  });
});
