/**
 * POSIX ustar archives for workspace backups: entry headers to write (the data goes beside them as Blob parts, so an
 * archive is never whole in memory) and a reader that walks a Blob's headers by slicing it. Tar has no 4 GiB limit on
 * the archive (fflate's Zip has no zip64); an entry's size field holds up to 8 GiB, and backup entries are ≤ 64 MB.
 */

export const BLOCK = 512;

/** One entry of an archive: its name, its data's size and where the data starts in the archive. */
export interface TarEntry {
  name: string;
  size: number;
  offset: number;
}

/** Bytes of zero padding after `size` bytes of data, up to the next 512-byte block. */
export const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

const enc = new TextEncoder();
const dec = new TextDecoder();

function octal(h: Uint8Array, at: number, width: number, n: number): void {
  h.set(enc.encode(n.toString(8).padStart(width - 1, '0')), at); // the last byte stays NUL
}

function checksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]; // the checksum field counts as spaces
  return sum;
}

/** The 512-byte ustar header of a regular file `name` (≤ 100 bytes of UTF-8) holding `size` bytes. */
export function tarHeader(name: string, size: number, mtimeMs = 0): Uint8Array {
  const n = enc.encode(name);
  if (n.length > 100) throw new Error(`tar entry name "${name}" is ${n.length} bytes; at most 100 fit a ustar header`);
  if (size >= 8 ** 11) throw new Error(`tar entry "${name}" is ${size} bytes; at most 8 GiB fit a ustar size field`);
  const h = new Uint8Array(BLOCK);
  h.set(n, 0);
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.floor(mtimeMs / 1000));
  h[156] = 0x30; // '0': regular file
  h.set(enc.encode('ustar\u000000'), 257);
  octal(h, 148, 7, checksum(h));
  h[155] = 0x20;
  return h;
}

/** The two zero blocks that end an archive. */
export const tarEnd = (): Uint8Array => new Uint8Array(2 * BLOCK);

const field = (h: Uint8Array, at: number, width: number) => dec.decode(h.subarray(at, at + width)).replace(/\0.*$/s, '');

/**
 * The entries of a tar archive in order, read header by header from the Blob (only headers are read). Throws
 * naming the byte offset and the entry before it when a header is damaged or the archive is cut short.
 */
export async function* tarEntries(archive: Blob): AsyncGenerator<TarEntry> {
  let at = 0;
  let prev = '(the start of the archive)';
  while (at + BLOCK <= archive.size) {
    const h = new Uint8Array(await archive.slice(at, at + BLOCK).arrayBuffer());
    if (h.every((b) => b === 0)) return;
    const name = field(h, 0, 100);
    const where = `the header at byte ${at} (after ${prev})`;
    if (Number.parseInt(field(h, 148, 8).trim(), 8) !== checksum(h)) throw new Error(`${where} is damaged: its checksum does not match`);
    const size = Number.parseInt(field(h, 124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || at + BLOCK + size > archive.size) throw new Error(`${where}, entry "${name}", is cut short: ${size} bytes announced`);
    yield { name, size, offset: at + BLOCK };
    prev = `entry "${name}"`;
    at += BLOCK + size + padding(size);
  }
  throw new Error(`the archive is cut short after ${prev}: no end marker`);
}
