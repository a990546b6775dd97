/**
 * Uploads without a buffer per upload: TF.js 4.22's webgpu `uploadToGPU` gives every tensor made from host values
 * (a batch's token ids, targets, segments and positions, a step's scalars) a fresh MAP_WRITE staging buffer
 * (`acquireBuffer(…, reuse = false)`), so a warm training step still created ~18 GPU buffers. Installed on a backend,
 * the upload takes its destination from the backend's pool and writes it with `queue.writeBuffer` instead — the way
 * TF.js itself fills its pooled uniform buffers. That is safe for the same reason: a buffer in the pool is referenced by
 * no command still being recorded (a tensor used by one is released only after its submit), and a queue write is
 * ordered after every command buffer already submitted. Applies while the fused kernels are on (the switch), so
 * turning them off gives TF.js's own path back.
 */
import { fusedKernelsActive } from './switch.ts';
import type { WebGpuBackendView } from './webgpu.ts';

interface UploadingBackend extends WebGpuBackendView {
  readonly bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
}

const installed = new WeakSet<object>();

/** Bytes per element in a webgpu buffer: 4 for every dtype TF.js uploads (bool is stored as int32). */
const BYTES = 4;

/** Makes `backend`'s uploads pooled (idempotent; a no-op on other backends' objects is the caller's care). */
export function installPooledUploads(backend: WebGpuBackendView): void {
  if (installed.has(backend)) return;
  installed.add(backend);
  const b = backend as UploadingBackend;
  const own = b.uploadToGPU.bind(b);
  b.uploadToGPU = (dataId: object) => {
    const data = b.tensorMap.get(dataId);
    if (data.resource != null || data.values == null || !fusedKernelsActive()) return own(dataId);
    const values = data.values as ArrayLike<number> & ArrayBufferView;
    const host = data.dtype === 'int32' || data.dtype === 'bool'
      ? (values instanceof Int32Array ? values : Int32Array.from(values))
      : (values instanceof Float32Array ? values : Float32Array.from(values));
    const size = host.length * BYTES;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = b.bufferManager.acquireBuffer(size, usage);
    if (size > 0) b.device.queue.writeBuffer(buffer, 0, host.buffer, host.byteOffset, size);
    data.values = null; // once uploaded, the host copy goes, as in TF.js's own upload
    data.resource = buffer;
  };
}
