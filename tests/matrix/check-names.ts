// The names of the engine's core checks, in the order the backend matrix runs them, apart from their code: the
// Playwright spec declares one test per name without loading TF.js into the test runner. core-checks.ts must give
// each name a check (the type system holds it to that).
export const CHECK_NAMES = [
  'golden logits',
  'gradients match finite differences',
  'non-finite step leaves weights and moments bit-identical (maxGradNorm 1)',
  'non-finite step leaves weights and moments bit-identical (maxGradNorm 0)',
  'NaN embedding row skips only the batches that read it (maxGradNorm 1)',
  'NaN embedding row skips only the batches that read it (maxGradNorm 0)',
  'resume equals the uninterrupted run',
  'resume equals the uninterrupted run with LoRA',
  'no tensor growth across steps',
  'no tensor growth across AdamW.importState',
  'no tensor growth across growSlots after resizeVocab',
  'no tensor growth across LoraAdapter create and dispose',
  'no tensor growth across resume then dispose',
  'batched eval equals one example at a time',
] as const;

export type CheckName = (typeof CHECK_NAMES)[number];
