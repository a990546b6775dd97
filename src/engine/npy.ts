/** NumPy `.npy` (format 1.0/2.0/3.0) for float32 and int32 arrays: read expected logits, write the CLI's. */

export interface NpyArray {
  shape: number[];
  data: Float32Array | Int32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses a little-endian float32 ('<f4') or int32 ('<i4') C-order .npy file. */
export function readNpy(bytes: Uint8Array, file = '.npy'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${file}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (major === 1 ? 10 : 12) + headerLen;
  if (start > bytes.length) throw new Error(`${file}: header length ${headerLen} runs past the end of the file`);
  const header = new TextDecoder().decode(bytes.subarray(major === 1 ? 10 : 12, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${file}: malformed header ${header.trim()}`);
  if (fortran === 'True') throw new Error(`${file}: Fortran-order arrays are not supported`);
  if (descr !== '<f4' && descr !== '<i4') throw new Error(`${file}: dtype ${descr} not supported (expected <f4 or <i4)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  if (start + n * 4 > bytes.length) throw new Error(`${file}: data cut short (${bytes.length - start} bytes for ${n} values)`);
  const copy = new Uint8Array(n * 4);
  copy.set(bytes.subarray(start, start + n * 4)); // a copy: aligned, and never a Node Buffer's shared pool
  return { shape, data: descr === '<f4' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer) };
}

/** Serialises a C-order float32 or int32 array as .npy version 1.0. */
export function writeNpy(arr: NpyArray): Uint8Array {
  const descr = arr.data instanceof Float32Array ? '<f4' : '<i4';
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = header + ' '.repeat(pad % 64) + '\n';
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + h.length + arr.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(h, 10);
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength), 10 + h.length);
  return out;
}
