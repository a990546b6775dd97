/**
 * The plumbing the fused kernels share on TF.js's `webgpu` backend: a typed view of the backend internals they use,
 * and `encodeDispatch`, which runs a compute pipeline of our own (several outputs, or buffers written in place) inside
 * TF.js's command stream, in order with its own dispatches and with its pooling and deferred-release rules.
 */
import { env, type DataType, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

export type { WebGPUProgram };

/** A uniform as `runWebGPUProgram` and the backend's `makeUniforms` take it (each entry 1 to 4 numbers). */
export type ProgramUniform = { type: 'float32' | 'int32' | 'uint32'; data: number[] }[];

/** What the backend keeps for one data id (`tensorMap`). */
interface TensorData {
  /** What the buffer holds: a tensor's dtype can differ (a bool or int32 tensor cast to float32 keeps its data). */
  dtype: DataType;
  /** A copy on the host: set by uploads not yet done and by every read (`data()` caches what it read). */
  values: unknown;
  resource: unknown;
  refCount: number;
}

/**
 * The part of TF.js 4.22's WebGPUBackend (backend_webgpu.js) the kernels use. Most of it is private in the typings;
 * `recordAndSubmit` is the model `encodeDispatch` follows.
 */
export interface WebGpuBackendView {
  readonly device: GPUDevice;
  readonly tensorMap: { get(dataId: object): TensorData; has(dataId: object): boolean };
  runWebGPUProgram(program: WebGPUProgram, inputs: TensorInfo[], outputDtype: DataType, uniforms?: ProgramUniform, output?: TensorInfo): TensorInfo;
  makeTensorInfo(shape: number[], dtype: DataType): TensorInfo;
  uploadToGPU(dataId: object): void;
  disposeData(dataId: object, force?: boolean): boolean;
  refCount(dataId: object): number;
  makeUniforms(uniforms: ProgramUniform): GPUBufferBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
}

/** The kernel function's `backend` argument (or tf.backend()) seen as the webgpu backend. */
export const asWebGpu = (backend: unknown) => backend as WebGpuBackendView;

/** Largest workgroup count per dispatch dimension that every WebGPU device allows (the spec's default limit). */
export const MAX_WORKGROUPS = 65535;

/** Workgroup counts for `n` workgroups: [n, 1, 1] while that fits, else a square [a, a, 1] (a² ≥ n; shaders guard). */
export function gridFor(n: number): [number, number, number] {
  if (n <= MAX_WORKGROUPS) return [Math.max(1, n), 1, 1];
  const a = Math.ceil(Math.sqrt(n));
  if (a > MAX_WORKGROUPS) throw new Error(`a dispatch of ${n} workgroups exceeds the device's ${MAX_WORKGROUPS}² limit`);
  return [a, a, 1];
}

/** WGSL: the linear index of this workgroup in a grid from gridFor (wid, nwg: the workgroup_id / num_workgroups builtins). */
export const WORKGROUP_INDEX = 'wid.y * nwg.x + wid.x';

/** WGSL: true when `x` is neither infinite nor NaN (a bit test: compilers may assume finite floats otherwise). */
export const IS_FINITE_WGSL = `fn isFiniteF32(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }`;

/**
 * A compute kernel of our own: its buffers by name in binding order (written ones read_write), its uniforms (bound
 * after them as `u`) and its WGSL after those declarations (helpers and `fn main`, entry point `main`). The element type
 * of each buffer is the one the tensor's buffer really holds, as in TF.js's own shaders: TF.js casts bool and int32 to
 * float32 without converting the data (the trainer's 0/1 `ok` is such a tensor), so read every buffer through f32(…).
 */
export interface OwnKernel {
  key: string;
  bindings: readonly { name: string; write?: boolean }[];
  /** The fields of the uniforms' struct, e.g. `n : i32, eps : f32` (each one 4-byte scalar, in the order given). */
  uniforms: string;
  main: string;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** The element type WGSL must declare for a tensor's buffer. */
function elementType(backend: WebGpuBackendView, t: TensorInfo): 'f32' | 'i32' {
  const dtype = backend.tensorMap.get(t.dataId).dtype;
  if (dtype === 'float32') return 'f32';
  if (dtype === 'int32' || dtype === 'bool') return 'i32';
  throw new Error(`fused kernels take float32, int32 or bool buffers, not ${dtype}`);
}

/** The compute pipeline of `kernel` for these element types, compiled once per device. */
function pipelineFor(backend: WebGpuBackendView, kernel: OwnKernel, types: readonly string[]): GPUComputePipeline {
  let byKey = pipelines.get(backend.device);
  if (!byKey) pipelines.set(backend.device, (byKey = new Map()));
  const key = `${kernel.key}:${types.join(',')}`;
  let p = byKey.get(key);
  if (!p) {
    const n = kernel.bindings.length;
    const code = [
      kernel.uniforms ? `struct U { ${kernel.uniforms} };` : '',
      ...kernel.bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name} : array<${types[i]}>;`),
      kernel.uniforms ? `@group(0) @binding(${n}) var<uniform> u : U;` : '',
      kernel.main,
    ].join('\n');
    const module = backend.device.createShaderModule({ code, label: key });
    p = backend.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    byKey.set(key, p);
  }
  return p;
}

/**
 * Records one dispatch of `kernel` on `tensors` (in the order of its bindings) into the backend's current compute pass,
 * as the backend's own recordAndSubmit does: every bound data id marked as owned by the pending command buffer (so a
 * tensor disposed before the submit keeps its buffer until then), the uniforms in a pooled buffer released at the
 * submit, and a submit every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches. Written buffers drop the host copy a read may
 * have cached (it would be stale). WebGPU forbids binding a buffer that is written twice in one dispatch: callers pass
 * tensors that do not share data with a written one.
 */
export function encodeDispatch(
  backend: WebGpuBackendView, kernel: OwnKernel, tensors: readonly TensorInfo[], uniforms: ProgramUniform | null,
  workgroups: [number, number, number],
): void {
  if (tensors.length !== kernel.bindings.length) throw new Error(`${kernel.key}: ${tensors.length} tensors for ${kernel.bindings.length} bindings`);
  const types = tensors.map((t, i) => {
    backend.uploadToGPU(t.dataId);
    const type = elementType(backend, t);
    if (kernel.bindings[i].write && type !== 'f32') throw new Error(`${kernel.key}: ${kernel.bindings[i].name} must be a float32 buffer to be written`);
    return type;
  });
  const pipeline = pipelineFor(backend, kernel, types);
  const entries: GPUBindGroupEntry[] = tensors.map((t, i) => ({ binding: i, resource: { buffer: backend.tensorMap.get(t.dataId).resource as GPUBuffer } }));
  if (uniforms) entries.push({ binding: tensors.length, resource: backend.makeUniforms(uniforms) });
  const bindGroup = backend.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  tensors.forEach((t, i) => {
    backend.commandQueueOwnedIds.add(t.dataId);
    if (kernel.bindings[i].write) backend.tensorMap.get(t.dataId).values = null;
  });
  backend.ensureCommandEncoderReady();
  if (!backend.computePassEncoder) backend.computePassEncoder = backend.commandEncoder!.beginComputePass({});
  const pass = backend.computePassEncoder;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
  backend.dispatchCountInPass++;
  if (backend.dispatchCountInPass >= submitBatchSize()) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}

/** The backend's flag for how many dispatches go into one submit (registered by the webgpu backend; 15 in TF.js 4.22). */
const submitBatchSize = () => Number(env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'));

/** WGSL: sums each workgroup array of `bufs` (length `size`, a power of two) into its element 0, by halves; `tid` is u32. */
export function treeReduce(bufs: readonly string[], size: number, tid = 'tid'): string {
  const lines: string[] = [];
  for (let k = size / 2; k >= 1; k /= 2) {
    lines.push(`if (${tid} < ${k}u) { ${bufs.map((b) => `${b}[${tid}] += ${b}[${tid} + ${k}u];`).join(' ')} }`, 'workgroupBarrier();');
  }
  return lines.join('\n');
}
