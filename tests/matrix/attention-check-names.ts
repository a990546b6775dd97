// The names of the fused-attention checks (tests/matrix/attention-checks.ts), apart from their code: the Playwright
// spec declares one test per name without loading TF.js into the test runner.
export const ATTENTION_CHECK_NAMES = [
  'head_dim 16, GQA 2:1, T 19: packed rows and padding',
  'head_dim 16, GQA 4:1, T 37: three query tiles, trailing padding',
  'a NaN key: NaN in every row that attends it, other batch rows finite',
  'head_dim 128, GQA 2:1, T 21: packed rows and padding',
  'head_dim 128, GQA 4:1, T 13: inside recomputation (tf.grads in a custom gradient)',
  'dispatches at Qwen3-0.6B width: fused at most 1/3 of the composition, no buffers created once warm',
] as const;

export type AttentionCheckName = (typeof ATTENTION_CHECK_NAMES)[number];
