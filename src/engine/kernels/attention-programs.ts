/**
 * The WGSL programs of the fused attention (kernels/attention.ts), run through TF.js's `runWebGPUProgram`: a
 * FlashAttention-2 forward and its two backward kernels (Dao 2023, arXiv:2307.08691), and a copy that splits a result.
 */
// Layouts (row-major, every input bound flat): q, dy [B, T, nh, hd]; k, v [B, T, nkv, hd]; cos, sin [B, T, hd];
// seg [B, T] int32. RoPE is applied as tiles are loaded; the causal and segment masks come from indices. The forward
// writes one buffer `fwd` = [o (B·T·nh·hd) | lse (B·nh·T) | seg as f32 (B·T)]: a TF.js program has one output, and
// the backward needs o, the per-row log-sum-exp and the segment ids, which it reads from there (so its kernels bind 7
// storage buffers and the output, within WebGPU's default 8 per stage). Tiles are sized per head_dim so that every
// kernel's workgroup memory fits WebGPU's default 16 KiB (tilesFor).
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/** Default `maxComputeWorkgroupStorageSize` of WebGPU: every adapter allows at least this. */
export const WORKGROUP_STORAGE_BYTES = 16384;

/** Tile sizes of one kernel: br query rows × bc key rows per tile, tpr threads sharing a row. */
export interface Tile {
  br: number;
  bc: number;
  tpr: number;
}

export interface AttentionTiles {
  hd: number;
  forward: Tile;
  gradQ: Tile;
  /** Key block bc per workgroup, query tiles of br rows streamed through it. */
  gradKV: Tile;
  /** Workgroup-memory bytes of each kernel (all ≤ WORKGROUP_STORAGE_BYTES). */
  bytes: { forward: number; gradQ: number; gradKV: number };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Tiles for head_dim `hd` (even, ≤ 256): 16×16 up to hd 64, 8×8 at hd 128 (Qwen3's), 4×4 above; the backward's key
 * blocks stream query tiles of half their size. Threads per row divide hd (each owns hd/tpr output dims).
 */
export function tilesFor(hd: number): AttentionTiles {
  if (!Number.isInteger(hd) || hd < 2 || hd % 2 !== 0 || hd > 256) throw new Error(`fused attention: head_dim must be even and at most 256, got ${hd}`);
  const t = hd <= 64 ? 16 : hd <= 128 ? 8 : 4;
  const tpr = Math.min(gcd(hd, 8), t);
  const forward = { br: t, bc: t, tpr };
  const gradQ = { br: t, bc: t, tpr };
  const gradKV = { br: hd <= 32 ? t : t / 2, bc: t, tpr };
  const f = 4; // bytes per f32 / i32
  const bytes = {
    forward: f * (forward.br * hd + 2 * forward.bc * hd + forward.br * forward.bc + 2 * forward.br * tpr + forward.bc + 4),
    gradQ: f * (2 * gradQ.br * hd + gradQ.bc * hd + gradQ.br * gradQ.bc + gradQ.br * tpr + gradQ.bc + 4),
    gradKV: f * (2 * gradKV.bc * hd + 2 * gradKV.br * hd + 2 * gradKV.br * gradKV.bc + 4 * gradKV.br + gradKV.bc + gradKV.bc * tpr + 4),
  };
  for (const [k, b] of Object.entries(bytes)) {
    if (b > WORKGROUP_STORAGE_BYTES) throw new Error(`fused attention: the ${k} kernel's tiles need ${b} bytes of workgroup memory at head_dim ${hd} (limit ${WORKGROUP_STORAGE_BYTES})`);
  }
  return { hd, forward, gradQ, gradKV, bytes };
}

/** An f32 WGSL literal that reads back as exactly `x` rounded to f32 (9 significant digits round-trip). */
const f32Literal = (x: number) => {
  const s = Math.fround(x).toPrecision(9);
  return /[.e]/.test(s) ? s : `${s}.0`;
};

/** Constants and the RoPE helpers every kernel shares (inputs q, k, cosT, sinT are bound by TF.js's preamble). */
function common(hd: number, tile: Tile, wg: number): string {
  return `
const HD : i32 = ${hd};
const HALF : i32 = ${hd / 2};
const BR : i32 = ${tile.br};
const BC : i32 = ${tile.bc};
const TPR : i32 = ${tile.tpr};
const WG : i32 = ${wg};
const DPT : i32 = ${hd / tile.tpr};
const CPT : i32 = ${Math.ceil(tile.bc / tile.tpr)};
const SCALE : f32 = ${f32Literal(1 / Math.sqrt(hd))};
const NEG_BIG : f32 = -1.0e30;

// Not NaN or ±∞, by the bits (a compiler may assume floats are finite in comparisons).
fn finite(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

// RoPE (Su et al. 2021) at dim d of the row starting at base, cos/sin row at cs: x·cos + rotate_half(x)·sin, with
// HF's rotate_half([x1, x2]) = [-x2, x1].
fn ropeQ(base : i32, cs : i32, d : i32) -> f32 {
  let lo = d < HALF;
  let partner = q[base + select(d - HALF, d + HALF, lo)];
  return q[base + d] * cosT[cs + d] + select(partner, -partner, lo) * sinT[cs + d];
}
fn ropeK(base : i32, cs : i32, d : i32) -> f32 {
  let lo = d < HALF;
  let partner = k[base + select(d - HALF, d + HALF, lo)];
  return k[base + d] * cosT[cs + d] + select(partner, -partner, lo) * sinT[cs + d];
}
`;
}

/** RoPE's backward for a gradient row held in workgroup array `buf` at `row`: dx = dy·cos + rotate_halfᵀ(dy·sin). */
const ropeBackward = (name: string, buf: string) => `
fn ${name}(row : i32, cs : i32, d : i32) -> f32 {
  let lo = d < HALF;
  let pd = select(d - HALF, d + HALF, lo);
  let g = ${buf}[row + pd] * sinT[cs + pd];
  return ${buf}[row + d] * cosT[cs + d] + select(-g, g, lo);
}
`;

/** TF.js's preamble stores workgroup_id in a private variable, which WGSL's uniformity analysis does not trust. */
const UNIFORM_IDS = `
  if (localIndex == 0u) { sIds = vec3<i32>(workgroupId); }
  let ids = workgroupUniformLoad(&sIds);
  let T = uniforms.T;
  let NH = uniforms.NH;
  let NKV = uniforms.NKV;
  let nO = uniforms.B * T * NH * HD;
  let segAt = nO + uniforms.B * NH * T;
  let tid = i32(localIndex);`;

/** Program fields every kernel shares: a 3-D grid of workgroups and the uniforms B, T, NH, NKV. */
abstract class AttentionProgram implements WebGPUProgram {
  abstract variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1], z: [2] }; // not flat: main() takes no index
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms = 'B : i32, T : i32, NH : i32, NKV : i32,';

  constructor(name: string, readonly tiles: AttentionTiles, outputSize: number, grid: [number, number, number], wg: number) {
    this.outputShape = [outputSize];
    this.dispatch = grid;
    this.workgroupSize = [wg, 1, 1];
    this.shaderKey = `workbench_flash_${name}_${tiles.hd}`;
  }

  abstract getUserCode(): string;
}

/**
 * Forward: a workgroup per (query tile, head, batch row); the RoPE'd, scaled q tile stays in workgroup memory while
 * k/v tiles stream through up to the causal limit; online softmax (running max m and sum l per row); writes o, the
 * row's log-sum-exp m + log l (0 for a row that attends nothing, whose o is 0) and, from head 0, the segment ids.
 */
export class FlashForwardProgram extends AttentionProgram {
  variableNames = ['q', 'k', 'v', 'cosT', 'sinT', 'seg'];

  constructor(tiles: AttentionTiles, B: number, T: number, nh: number) {
    const { br, tpr } = tiles.forward;
    super('forward', tiles, B * T * nh * tiles.hd + B * nh * T + B * T, [Math.ceil(T / br), nh, B], br * tpr);
  }

  getUserCode(): string {
    const { hd, forward: t } = this.tiles;
    return `${common(hd, t, t.br * t.tpr)}
var<workgroup> sQ : array<f32, ${t.br * hd}>;
var<workgroup> sK : array<f32, ${t.bc * hd}>;
var<workgroup> sV : array<f32, ${t.bc * hd}>;
var<workgroup> sP : array<f32, ${t.br * t.bc}>;
var<workgroup> sMax : array<f32, ${t.br * t.tpr}>;
var<workgroup> sSum : array<f32, ${t.br * t.tpr}>;
var<workgroup> sSegK : array<i32, ${t.bc}>;
var<workgroup> sIds : vec3<i32>;

fn main() {
  ${UNIFORM_IDS}
  let h = ids.y;
  let b = ids.z;
  let kh = h / (NH / NKV);
  let i0 = ids.x * BR;
  let r = tid / TPR;
  let t = tid % TPR;
  let i = i0 + r;
  for (var e = tid; e < BR * HD; e += WG) {
    let ii = i0 + e / HD;
    var x = 0.0;
    if (ii < T) { x = ropeQ(((b * T + ii) * NH + h) * HD, (b * T + ii) * HD, e % HD) * SCALE; }
    sQ[e] = x;
  }
  var segQ = 0; // 0: padding (or past T), attends nothing
  if (i < T) { segQ = seg[b * T + i]; }
  var m = NEG_BIG;
  var l = 0.0;
  var bad = false; // a score that is NaN or ±∞ (a non-finite input): the row's o and lse become NaN, as composed
  var acc : array<f32, DPT>;
  var s : array<f32, CPT>;
  let kEnd = min(T, i0 + BR); // causal: keys after the tile's last query are never read
  for (var j0 = 0; j0 < kEnd; j0 += BC) {
    workgroupBarrier();
    for (var e = tid; e < BC * HD; e += WG) {
      let j = j0 + e / HD;
      var kx = 0.0;
      var vx = 0.0;
      if (j < T) {
        let base = ((b * T + j) * NKV + kh) * HD;
        kx = ropeK(base, (b * T + j) * HD, e % HD);
        vx = v[base + e % HD];
      }
      sK[e] = kx;
      sV[e] = vx;
    }
    if (tid < BC) {
      var sk = -1;
      if (j0 + tid < T) { sk = seg[b * T + j0 + tid]; }
      sSegK[tid] = sk;
    }
    workgroupBarrier();
    var tileMax = NEG_BIG;
    for (var u = 0; u < CPT; u++) {
      let c = t + u * TPR;
      var x = NEG_BIG; // NEG_BIG marks a masked score
      if (c < BC && segQ != 0 && j0 + c <= i && sSegK[c] == segQ) {
        var sc = 0.0;
        for (var d = 0; d < HD; d++) { sc += sQ[r * HD + d] * sK[c * HD + d]; }
        x = sc;
        bad = bad || !finite(sc);
        tileMax = max(tileMax, x);
      }
      s[u] = x;
    }
    sMax[tid] = tileMax;
    workgroupBarrier();
    var mNew = m;
    for (var u = 0; u < TPR; u++) { mNew = max(mNew, sMax[r * TPR + u]); }
    let alpha = exp(m - mNew);
    var rowSum = 0.0;
    for (var u = 0; u < CPT; u++) {
      let c = t + u * TPR;
      var p = 0.0;
      if (s[u] > NEG_BIG) { p = exp(s[u] - mNew); }
      if (c < BC) { sP[r * BC + c] = p; }
      rowSum += p;
    }
    sSum[tid] = rowSum;
    workgroupBarrier();
    var tileSum = 0.0;
    for (var u = 0; u < TPR; u++) { tileSum += sSum[r * TPR + u]; }
    l = l * alpha + tileSum;
    m = mNew;
    for (var n = 0; n < DPT; n++) { acc[n] = acc[n] * alpha; }
    for (var c = 0; c < BC; c++) {
      let p = sP[r * BC + c];
      for (var n = 0; n < DPT; n++) { acc[n] += p * sV[c * HD + t + n * TPR]; }
    }
  }
  sMax[tid] = select(0.0, 1.0, bad); // the loop's last read of sMax was before its last barrier
  workgroupBarrier();
  var rowBad = false;
  for (var u = 0; u < TPR; u++) { rowBad = rowBad || sMax[r * TPR + u] != 0.0; }
  if (i < T) {
    let live = l > 0.0;
    let inv = select(0.0, 1.0 / l, live);
    let base = ((b * T + i) * NH + h) * HD;
    for (var n = 0; n < DPT; n++) { result[base + t + n * TPR] = select(acc[n] * inv, uniforms.NAN, rowBad); }
    if (t == 0) {
      result[nO + (b * NH + h) * T + i] = select(select(0.0, m + log(l), live), uniforms.NAN, rowBad);
      if (h == 0) { result[segAt + b * T + i] = f32(segQ); }
    }
  }
}
`;
  }
}

/**
 * dq: a workgroup per (query tile, head, batch row), like the forward; per k/v tile it recomputes the scores, then
 * P = exp(S − lse), dP = dO·Vᵀ and dS = P ∘ (dP − D) with D = rowsum(dO ∘ O), and accumulates dS·K; RoPE's backward
 * and the 1/√hd scale are applied at the end. Output dq [B, T, nh, hd].
 */
export class FlashGradQProgram extends AttentionProgram {
  variableNames = ['q', 'k', 'v', 'cosT', 'sinT', 'dy', 'fwd'];

  constructor(tiles: AttentionTiles, B: number, T: number, nh: number) {
    const { br, tpr } = tiles.gradQ;
    super('grad_q', tiles, B * T * nh * tiles.hd, [Math.ceil(T / br), nh, B], br * tpr);
  }

  getUserCode(): string {
    const { hd, gradQ: t } = this.tiles;
    return `${common(hd, t, t.br * t.tpr)}
var<workgroup> sQ : array<f32, ${t.br * hd}>;
var<workgroup> sdO : array<f32, ${t.br * hd}>;
var<workgroup> sKV : array<f32, ${t.bc * hd}>;
var<workgroup> sdS : array<f32, ${t.br * t.bc}>;
var<workgroup> sRed : array<f32, ${t.br * t.tpr}>;
var<workgroup> sSegK : array<i32, ${t.bc}>;
var<workgroup> sIds : vec3<i32>;
${ropeBackward('ropeBackQ', 'sQ')}
fn main() {
  ${UNIFORM_IDS}
  let h = ids.y;
  let b = ids.z;
  let kh = h / (NH / NKV);
  let i0 = ids.x * BR;
  let r = tid / TPR;
  let t = tid % TPR;
  let i = i0 + r;
  for (var e = tid; e < BR * HD; e += WG) {
    let ii = i0 + e / HD;
    var x = 0.0;
    var g = 0.0;
    if (ii < T) {
      let base = ((b * T + ii) * NH + h) * HD;
      x = ropeQ(base, (b * T + ii) * HD, e % HD) * SCALE;
      g = dy[base + e % HD];
    }
    sQ[e] = x;
    sdO[e] = g;
  }
  workgroupBarrier();
  var part = 0.0;
  var lse = 0.0;
  var segQ = 0;
  if (i < T) {
    let base = ((b * T + i) * NH + h) * HD;
    for (var n = 0; n < DPT; n++) { part += sdO[r * HD + t + n * TPR] * fwd[base + t + n * TPR]; }
    lse = fwd[nO + (b * NH + h) * T + i];
    segQ = i32(fwd[segAt + b * T + i]);
  }
  sRed[tid] = part;
  workgroupBarrier();
  var di = 0.0; // D = rowsum(dO ∘ O)
  for (var u = 0; u < TPR; u++) { di += sRed[r * TPR + u]; }
  var acc : array<f32, DPT>;
  var dp : array<f32, CPT>;
  let kEnd = min(T, i0 + BR);
  for (var j0 = 0; j0 < kEnd; j0 += BC) {
    workgroupBarrier();
    for (var e = tid; e < BC * HD; e += WG) {
      let j = j0 + e / HD;
      var x = 0.0;
      if (j < T) { x = v[((b * T + j) * NKV + kh) * HD + e % HD]; }
      sKV[e] = x;
    }
    if (tid < BC) {
      var sk = -1;
      if (j0 + tid < T) { sk = i32(fwd[segAt + b * T + j0 + tid]); }
      sSegK[tid] = sk;
    }
    workgroupBarrier();
    for (var u = 0; u < CPT; u++) {
      let c = t + u * TPR;
      var x = 0.0;
      if (c < BC && segQ != 0 && j0 + c <= i && sSegK[c] == segQ) {
        for (var d = 0; d < HD; d++) { x += sdO[r * HD + d] * sKV[c * HD + d]; }
      }
      dp[u] = x;
    }
    workgroupBarrier();
    for (var e = tid; e < BC * HD; e += WG) {
      let j = j0 + e / HD;
      var x = 0.0;
      if (j < T) { x = ropeK(((b * T + j) * NKV + kh) * HD, (b * T + j) * HD, e % HD); }
      sKV[e] = x;
    }
    workgroupBarrier();
    for (var u = 0; u < CPT; u++) {
      let c = t + u * TPR;
      var ds = 0.0;
      if (c < BC && segQ != 0 && j0 + c <= i && sSegK[c] == segQ) {
        var x = 0.0;
        for (var d = 0; d < HD; d++) { x += sQ[r * HD + d] * sKV[c * HD + d]; }
        ds = exp(x - lse) * (dp[u] - di);
      }
      if (c < BC) { sdS[r * BC + c] = ds; }
    }
    workgroupBarrier();
    for (var c = 0; c < BC; c++) {
      let ds = sdS[r * BC + c];
      for (var n = 0; n < DPT; n++) { acc[n] += ds * sKV[c * HD + t + n * TPR]; }
    }
  }
  workgroupBarrier();
  for (var n = 0; n < DPT; n++) { sQ[r * HD + t + n * TPR] = acc[n] * SCALE; }
  workgroupBarrier();
  if (i < T) {
    let base = ((b * T + i) * NH + h) * HD;
    for (var n = 0; n < DPT; n++) { result[base + t + n * TPR] = ropeBackQ(r * HD, (b * T + i) * HD, t + n * TPR); }
  }
}
`;
  }
}

/**
 * dk and dv: a workgroup per (key block, KV head, batch row) holds its RoPE'd k and v rows in workgroup memory and
 * streams the query tiles of all the query heads of its group (GQA: no atomics, the group's sum stays in registers)
 * from the causal start; recomputes P and dS per tile, accumulates dV += Pᵀ·dO and dK += dSᵀ·Q (Q scaled), then RoPE's
 * backward on dk. Output [dk | dv], each [B, T, nkv, hd].
 */
export class FlashGradKVProgram extends AttentionProgram {
  variableNames = ['q', 'k', 'v', 'cosT', 'sinT', 'dy', 'fwd'];

  constructor(tiles: AttentionTiles, B: number, T: number, nkv: number) {
    const { bc, tpr } = tiles.gradKV;
    super('grad_kv', tiles, 2 * B * T * nkv * tiles.hd, [Math.ceil(T / bc), nkv, B], bc * tpr);
  }

  getUserCode(): string {
    const { hd, gradKV: t } = this.tiles;
    const wg = t.bc * t.tpr;
    return `${common(hd, t, wg)}
const LPR : i32 = ${wg / t.br}; // threads per query row while loading
var<workgroup> sK : array<f32, ${t.bc * hd}>;
var<workgroup> sV : array<f32, ${t.bc * hd}>;
var<workgroup> sQ : array<f32, ${t.br * hd}>;
var<workgroup> sdO : array<f32, ${t.br * hd}>;
var<workgroup> sP : array<f32, ${t.br * t.bc}>;
var<workgroup> sdS : array<f32, ${t.br * t.bc}>;
var<workgroup> sLse : array<f32, ${t.br}>;
var<workgroup> sDi : array<f32, ${t.br}>;
var<workgroup> sSegQ : array<i32, ${t.br}>;
var<workgroup> sSegK : array<i32, ${t.bc}>;
var<workgroup> sRed : array<f32, ${wg}>;
var<workgroup> sIds : vec3<i32>;
${ropeBackward('ropeBackK', 'sK')}
fn main() {
  ${UNIFORM_IDS}
  let kh = ids.y;
  let b = ids.z;
  let G = NH / NKV;
  let j0 = ids.x * BC;
  let c = tid / TPR;
  let t = tid % TPR;
  let j = j0 + c;
  for (var e = tid; e < BC * HD; e += WG) {
    let jj = j0 + e / HD;
    var kx = 0.0;
    var vx = 0.0;
    if (jj < T) {
      let base = ((b * T + jj) * NKV + kh) * HD;
      kx = ropeK(base, (b * T + jj) * HD, e % HD);
      vx = v[base + e % HD];
    }
    sK[e] = kx;
    sV[e] = vx;
  }
  if (tid < BC) {
    var sk = -1;
    if (j0 + tid < T) { sk = i32(fwd[segAt + b * T + j0 + tid]); }
    sSegK[tid] = sk;
  }
  var dk : array<f32, DPT>;
  var dv : array<f32, DPT>;
  let rr = tid / LPR;
  let lane = tid % LPR;
  for (var hh = 0; hh < G; hh++) {
    let h = kh * G + hh;
    for (var i0 = (j0 / BR) * BR; i0 < T; i0 += BR) { // causal: earlier queries never see this block
      workgroupBarrier();
      let ii = i0 + rr;
      var part = 0.0;
      for (var d = lane; d < HD; d += LPR) {
        var x = 0.0;
        var g = 0.0;
        if (ii < T) {
          let base = ((b * T + ii) * NH + h) * HD;
          x = ropeQ(base, (b * T + ii) * HD, d) * SCALE;
          g = dy[base + d];
          part += g * fwd[base + d];
        }
        sQ[rr * HD + d] = x;
        sdO[rr * HD + d] = g;
      }
      sRed[tid] = part;
      if (lane == 0) {
        var lse = 0.0;
        var sq = 0;
        if (ii < T) {
          lse = fwd[nO + (b * NH + h) * T + ii];
          sq = i32(fwd[segAt + b * T + ii]);
        }
        sLse[rr] = lse;
        sSegQ[rr] = sq;
      }
      workgroupBarrier();
      if (lane == 0) {
        var di = 0.0;
        for (var u = 0; u < LPR; u++) { di += sRed[rr * LPR + u]; }
        sDi[rr] = di;
      }
      workgroupBarrier();
      for (var r = t; r < BR; r += TPR) {
        let sq = sSegQ[r];
        var p = 0.0;
        var ds = 0.0;
        if (sq != 0 && j <= i0 + r && sSegK[c] == sq) {
          var sdot = 0.0;
          var pdot = 0.0;
          for (var d = 0; d < HD; d++) {
            sdot += sQ[r * HD + d] * sK[c * HD + d];
            pdot += sdO[r * HD + d] * sV[c * HD + d];
          }
          p = exp(sdot - sLse[r]);
          ds = p * (pdot - sDi[r]);
        }
        sP[r * BC + c] = p;
        sdS[r * BC + c] = ds;
      }
      workgroupBarrier();
      for (var r = 0; r < BR; r++) {
        let p = sP[r * BC + c];
        let ds = sdS[r * BC + c];
        for (var n = 0; n < DPT; n++) {
          dv[n] += p * sdO[r * HD + t + n * TPR];
          dk[n] += ds * sQ[r * HD + t + n * TPR];
        }
      }
    }
  }
  workgroupBarrier();
  for (var n = 0; n < DPT; n++) { sK[c * HD + t + n * TPR] = dk[n]; }
  workgroupBarrier();
  if (j < T) {
    let base = ((b * T + j) * NKV + kh) * HD;
    let nKV = uniforms.B * T * NKV * HD;
    for (var n = 0; n < DPT; n++) {
      let d = t + n * TPR;
      result[base + d] = ropeBackK(c * HD, (b * T + j) * HD, d);
      result[nKV + base + d] = dv[n];
    }
  }
}
`;
  }
}

/** result = x[offset, offset + size): splits a packed result into its own tensor (one flat copy). */
export class CopySliceProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey = 'workbench_flash_copy_slice';
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  uniforms = 'offset : i32,';

  constructor(size: number) {
    this.outputShape = [size];
    this.dispatch = [Math.ceil(size / 64), 1, 1]; // the backend folds it into 2-D past 65535 workgroups
  }

  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index < uniforms.size) { result[index] = x[index + uniforms.offset]; }
}
`;
  }
}
