import { defineConfig } from 'vitest/config';

// Unit and integration tests in Node (engine on the tfjs CPU and wasm backends, store on fake-indexeddb,
// the inference node on 127.0.0.1). Browser tests live in tests/e2e and run under Playwright.
export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
