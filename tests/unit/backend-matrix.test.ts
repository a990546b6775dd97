// The engine's core checks (tests/matrix/core-checks.ts) on the cpu and wasm backends in Node, one test per
// (backend, check), so a backend-specific difference fails as e.g. "wasm > golden logits". The webgpu column of the
// same matrix runs in Chromium: tests/e2e/backend-matrix.spec.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { CORE_CHECKS, type CheckContext } from '../matrix/core-checks.ts';

const ctx: CheckContext = { fixtures: nodeFolder(join(import.meta.dirname, '../fixtures/qwen3-reference')) };

for (const backend of ['cpu', 'wasm'] as const) {
  describe(backend, () => {
    beforeAll(async () => {
      expect((await initNodeBackend([backend])).name).toBe(backend);
    });

    for (const check of CORE_CHECKS) {
      it(check.name, async () => {
        // Never silently on another backend (an earlier describe may have switched it).
        expect(tf.getBackend()).toBe(backend);
        await check.run(ctx);
      });
    }
  });
}
