// The fused attention's tile sizes (src/engine/kernels/attention-programs.ts) against WebGPU's default workgroup-memory
// limit, read from the WGSL each kernel actually declares: every supported head_dim fits 16 KiB, so no adapter has to
// allow more. Pure code generation, no GPU.
import { describe, expect, it } from 'vitest';
import {
  FlashForwardProgram, FlashGradKVProgram, FlashGradQProgram, tilesFor, WORKGROUP_STORAGE_BYTES,
} from '../../src/engine/kernels/attention-programs.ts';

/** Bytes of the `var<workgroup>` declarations of a WGSL source (arrays of f32/i32, and vec3<i32> padded to 16). */
function workgroupBytes(code: string): number {
  let bytes = 0;
  for (const m of code.matchAll(/var<workgroup>\s+\w+\s*:\s*([^;]+);/g)) {
    const type = m[1].trim();
    const arr = /^array<(f32|i32), (\d+)>$/.exec(type);
    if (arr) bytes += 4 * Number(arr[2]);
    else if (type === 'vec3<i32>') bytes += 16;
    else throw new Error(`unexpected workgroup type ${type}`);
  }
  return bytes;
}

describe('fused attention tiles', () => {
  it.each([2, 4, 8, 16, 32, 64, 96, 128, 256])('head_dim %i: every kernel fits the default 16 KiB of workgroup memory', (hd) => {
    const tiles = tilesFor(hd);
    const kernels = {
      forward: new FlashForwardProgram(tiles, 2, 2048, 16),
      gradQ: new FlashGradQProgram(tiles, 2, 2048, 16),
      gradKV: new FlashGradKVProgram(tiles, 2, 2048, 8),
    };
    for (const [name, program] of Object.entries(kernels)) {
      const bytes = workgroupBytes(program.getUserCode());
      expect(bytes, name).toBeLessThanOrEqual(WORKGROUP_STORAGE_BYTES);
      expect(bytes, `${name}: tilesFor's own count`).toBeLessThanOrEqual(tiles.bytes[name as keyof typeof tiles.bytes]);
      expect(program.workgroupSize[0], name).toBeLessThanOrEqual(256); // maxComputeInvocationsPerWorkgroup's default
    }
  });

  it('refuses an odd or too large head_dim', () => {
    expect(() => tilesFor(7)).toThrow(/even/);
    expect(() => tilesFor(512)).toThrow(/at most 256/);
  });
});
