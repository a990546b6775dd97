/**
 * Counts what the WebGPU device under TF.js is asked to do — compute dispatches, buffers created, queue submits and
 * readbacks (mapAsync for reading, with their bytes) — by wrapping the device's methods, so a training step's CPU-side
 * cost can be measured where no GPU timing exists (SwiftShader here). Instrument after `tf.setBackend('webgpu')`:
 * TF.js creates a command encoder per submit, so every encoder made afterwards is counted.
 */

/** What the device was asked to do since the last reset. */
export interface GpuCounts {
  dispatches: number;
  buffersCreated: number;
  submits: number;
  readbacks: number;
  readbackBytes: number;
}

export interface GpuCounter {
  counts(): GpuCounts;
  reset(): void;
  /** Puts the device's own methods back. */
  restore(): void;
}

const zero = (): GpuCounts => ({ dispatches: 0, buffersCreated: 0, submits: 0, readbacks: 0, readbackBytes: 0 });

/** Wraps `device` (and GPUBuffer.prototype.mapAsync, for the buffers it reads back) to count its work. */
export function instrumentDevice(device: GPUDevice): GpuCounter {
  let c = zero();
  const createBuffer = device.createBuffer.bind(device);
  const createCommandEncoder = device.createCommandEncoder.bind(device);
  const submit = device.queue.submit.bind(device.queue);
  const bufferProto = Object.getPrototypeOf(createBuffer({ size: 4, usage: 0x0008 /* COPY_DST */ })) as GPUBuffer;
  const mapAsync = bufferProto.mapAsync;

  device.createBuffer = (desc: GPUBufferDescriptor) => {
    c.buffersCreated++;
    return createBuffer(desc);
  };
  device.queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    c.submits++;
    return submit(buffers);
  };
  device.createCommandEncoder = (desc?: GPUCommandEncoderDescriptor) => {
    const encoder = createCommandEncoder(desc);
    const beginComputePass = encoder.beginComputePass.bind(encoder);
    encoder.beginComputePass = (passDesc?: GPUComputePassDescriptor) => {
      const pass = beginComputePass(passDesc);
      const dispatch = pass.dispatchWorkgroups.bind(pass);
      const indirect = pass.dispatchWorkgroupsIndirect.bind(pass);
      pass.dispatchWorkgroups = (x: number, y?: number, z?: number) => {
        c.dispatches++;
        dispatch(x, y, z);
      };
      pass.dispatchWorkgroupsIndirect = (buffer: GPUBuffer, offset: number) => {
        c.dispatches++;
        indirect(buffer, offset);
      };
      return pass;
    };
    return encoder;
  };
  const READ = 0x0001; // GPUMapMode.READ
  bufferProto.mapAsync = function (this: GPUBuffer, mode: number, offset?: number, size?: number) {
    if (mode & READ) {
      c.readbacks++;
      c.readbackBytes += size ?? this.size - (offset ?? 0);
    }
    return mapAsync.call(this, mode, offset, size);
  };

  return {
    counts: () => ({ ...c }),
    reset: () => void (c = zero()),
    restore() {
      device.createBuffer = createBuffer;
      device.createCommandEncoder = createCommandEncoder;
      device.queue.submit = submit;
      bufferProto.mapAsync = mapAsync;
    },
  };
}
