/**
 * Uploads: multipart/form-data (fields `id` and `file`) streamed to a temp file under a size cap
 * (413 past it), and unzipping a Hugging Face folder zip safely into a directory.
 */
import Busboy from 'busboy';
import { closeSync, createReadStream, createWriteStream, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join, normalize, sep } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { Unzip, UnzipInflate } from 'fflate';
import { HttpError } from './http.ts';

export interface UploadedForm {
  fields: Record<string, string>;
  /** Temp path of the `file` part, or null when none was sent. */
  filePath: string | null;
  fileName: string | null;
  bytes: number;
}

/** Streams the request's `file` part into `tmpDir`; 413 when it is over `maxBytes`, 400 when not multipart. */
export function receiveMultipart(req: IncomingMessage, tmpDir: string, maxBytes: number): Promise<UploadedForm> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) {
    req.resume();
    return Promise.reject(new HttpError(400, `Expected multipart/form-data with fields "id" and "file", got Content-Type "${type || 'none'}".`));
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) {
    req.resume();
    return Promise.reject(new HttpError(413, `Upload of ${declared} bytes is over the limit of ${maxBytes} bytes.`, 'request_too_large'));
  }
  mkdirSync(tmpDir, { recursive: true });
  return new Promise((resolve, reject) => {
    let bb: Busboy.Busboy;
    try {
      bb = Busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 20, fieldSize: 64 * 1024 } });
    } catch (e) {
      req.resume();
      reject(new HttpError(400, `Malformed multipart request: ${(e as Error).message}`));
      return;
    }
    const form: UploadedForm = { fields: {}, filePath: null, fileName: null, bytes: 0 };
    let failed: HttpError | null = null;
    let writing: Promise<void> = Promise.resolve();
    const fail = (err: HttpError): void => {
      if (!failed) failed = err;
    };
    bb.on('field', (name, value) => {
      form.fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return;
      }
      const path = join(tmpDir, `upload-${randomUUID()}`);
      form.filePath = path;
      form.fileName = info.filename ?? null;
      const out = createWriteStream(path);
      writing = new Promise((res) => out.on('close', () => res()));
      stream.on('data', (chunk: Buffer) => {
        form.bytes += chunk.length;
      });
      stream.on('limit', () => fail(new HttpError(413, `Uploaded file is over the limit of ${maxBytes} bytes.`, 'request_too_large')));
      stream.pipe(out);
    });
    bb.on('error', (e) => fail(new HttpError(400, `Malformed multipart request: ${(e as Error).message}`)));
    bb.on('close', () => {
      void writing.then(() => {
        if (failed) {
          if (form.filePath) rmSync(form.filePath, { force: true });
          reject(failed);
        } else resolve(form);
      });
    });
    req.pipe(bb);
  });
}

/** Paths of a zip's entries, with one common top folder (a zipped folder) stripped. */
function stripTopFolder(names: string[]): { strip: string } {
  const files = names.filter((n) => !n.endsWith('/'));
  const first = files[0]?.split('/')[0];
  if (first && files.every((n) => n.includes('/') && n.split('/')[0] === first)) return { strip: first + '/' };
  return { strip: '' };
}

/**
 * Unzips `zipPath` into `destDir` (created); 400 for data that is not a zip or holds unsafe paths,
 * 413 when the unzipped files add up to more than `maxBytes` (a zip bomb).
 */
export async function extractZip(zipPath: string, destDir: string, maxBytes = Infinity): Promise<string[]> {
  const names: string[] = [];
  // First pass: list entry names (streamed; entries are not inflated).
  await new Promise<void>((resolve, reject) => {
    const uz = new Unzip((file) => names.push(file.name));
    uz.register(UnzipInflate);
    const rs = createReadStream(zipPath);
    let head = true;
    rs.on('data', (chunk) => {
      const buf = chunk as Buffer;
      if (head) {
        head = false;
        if (buf.length < 4 || buf.readUInt32LE(0) !== 0x04034b50) {
          rs.destroy();
          reject(new HttpError(400, 'The uploaded file is not a zip archive (no PK header).'));
          return;
        }
      }
      try {
        uz.push(buf, false);
      } catch (e) {
        rs.destroy();
        reject(new HttpError(400, `The uploaded zip is corrupt: ${(e as Error).message}`));
      }
    });
    rs.on('end', () => {
      if (head) return reject(new HttpError(400, 'The uploaded file is empty; expected a zip archive.'));
      try {
        uz.push(new Uint8Array(0), true);
        resolve();
      } catch (e) {
        reject(new HttpError(400, `The uploaded zip is corrupt: ${(e as Error).message}`));
      }
    });
    rs.on('error', reject);
  });
  if (names.length === 0) throw new HttpError(400, 'The uploaded zip holds no files.');
  const { strip } = stripTopFolder(names);
  const target = (name: string): string | null => {
    if (name.endsWith('/')) return null;
    const rel = normalize(name.slice(strip.length));
    if (rel.startsWith('..') || rel.startsWith(sep) || rel.includes(`..${sep}`) || /^[A-Za-z]:/.test(rel)) {
      throw new HttpError(400, `The uploaded zip holds an unsafe path: ${JSON.stringify(name)}.`);
    }
    return join(destDir, rel);
  };
  for (const n of names) target(n);
  mkdirSync(destDir, { recursive: true });
  // Second pass: inflate each entry straight to disk.
  const written: string[] = [];
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    let pending = 0;
    let ended = false;
    let error: Error | null = null;
    const done = (): void => {
      if (ended && pending === 0) (error ? reject(error) : resolve());
    };
    const uz = new Unzip((file) => {
      const path = target(file.name);
      if (!path) return;
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(path, 'w');
      pending++;
      written.push(path.slice(destDir.length + 1));
      file.ondata = (err, chunk, final) => {
        if (err) error = new HttpError(400, `The uploaded zip is corrupt (${file.name}): ${err.message}`);
        else if ((total += chunk.length) > maxBytes) error ??= new HttpError(413, `The unzipped model is over the limit of ${maxBytes} bytes.`, 'request_too_large');
        else writeSync(fd, chunk);
        if (err || final) {
          closeSync(fd);
          pending--;
          done();
        }
      };
      file.start();
    });
    uz.register(UnzipInflate);
    const rs = createReadStream(zipPath);
    rs.on('data', (chunk) => {
      try {
        uz.push(chunk as Buffer, false);
      } catch (e) {
        error = new HttpError(400, `The uploaded zip is corrupt: ${(e as Error).message}`);
      }
    });
    rs.on('end', () => {
      try {
        uz.push(new Uint8Array(0), true);
      } catch (e) {
        error = new HttpError(400, `The uploaded zip is corrupt: ${(e as Error).message}`);
      }
      ended = true;
      done();
    });
    rs.on('error', reject);
  });
  return written;
}
