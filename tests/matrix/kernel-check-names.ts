// The names of the fused-kernel checks (tests/matrix/kernel-checks.ts), apart from their code: the Playwright spec
// declares one test per name without loading TF.js into the test runner.
export const KERNEL_CHECK_NAMES = [
  'RMSNorm: values and gradients equal the composition (hidden sizes, head_dim 16 and 128, zero rows)',
  'SwiGLU: values and gradients equal the composition (odd sizes, saturated sigmoid)',
  'a model with gradient checkpointing: gradients equal the composition, frozen norms included',
  'AdamW: an applied step equals the composition, in place',
  'AdamW: a skipped step leaves weights, moments and the step count bit-identical',
  'dispatches: fused at most 1/3 of the composition (norms, SwiGLU at 0.6B width; AdamW over a layer), no buffers created once warm',
  'a whole training step creates no buffers once warm (pooled uploads), losses as composed',
] as const;

export type KernelCheckName = (typeof KERNEL_CHECK_NAMES)[number];
