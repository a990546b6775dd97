import { defineConfig } from 'vitest/config';

// `npm run test:gguf` (scripts/test-gguf.mjs): llama.cpp (node-llama-cpp, installed in tests/gguf/runner) loads
// the workbench's GGUF exports. Not part of `npm test`.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['tests/gguf/**/*.test.ts'],
    environment: 'node',
    testTimeout: 280_000,
    hookTimeout: 280_000,
    pool: 'forks',
  },
});
