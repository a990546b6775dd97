// Streaming import and load: a dropped folder is validated from its safetensors headers and stored as the Blobs given
// (the weights are never read whole), a zip (deflated or stored) is unzipped entry by entry, malformed headers and
// tensors that do not fit name the file and tensor, and loadModel reads a folder tensor by tensor from disk, from the
// store's Blobs and over HTTP (Range, and a server that ignores Range). An export refuses weights that turned non-finite.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { exportCheckpointAs, importModelSource, filesFromZip } from '../../src/daemon/transfer.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { storeFolder, urlFolder } from '../../src/daemon/folders.ts';
import { loadModel, type FolderReader, type LoadProgress } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { Qwen3Model, parameterShapes, singleSequence } from '../../src/engine/model.ts';
import { CheckpointError } from '../../src/engine/errors.ts';
import { tinyModelFolder, TINY_CONFIG, type MemFolder } from './daemon-fixture.ts';

const freshDb = scratchDbs('transfer-stream');
let folder: MemFolder;
let reference: Float32Array;
let dir: string;

async function logitsOf(model: Qwen3Model): Promise<Float32Array> {
  const x = singleSequence([256, 72, 105, 258]);
  const l = model.logits(x);
  const d = (await l.data()) as Float32Array;
  tf.dispose([l, x.inputIds, x.positionIds, x.segmentIds]);
  return d;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(11);
  const m = await loadModel(folder);
  reference = await logitsOf(m);
  m.dispose();
  dir = mkdtempSync(join(tmpdir(), 'transfer-stream-'));
  const disk = nodeFolder(dir);
  for (const [name, bytes] of folder.files) await disk.write(name, bytes);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A Blob whose whole-content reads throw: only slices of it may be read. */
class SliceOnlyBlob extends Blob {
  override arrayBuffer(): Promise<ArrayBuffer> {
    throw new Error('the weights file was read whole');
  }
  override text(): Promise<string> {
    throw new Error('the weights file was read whole');
  }
  override stream(): ReturnType<Blob['stream']> {
    throw new Error('the weights file was read whole');
  }
}

const filesOf = (files: Map<string, Uint8Array>, top = 'Tiny') =>
  [...files].map(([name, bytes]) => ({ path: `${top}/${name}`, blob: name.endsWith('.safetensors') ? new SliceOnlyBlob([bytes as BlobPart]) : new Blob([bytes as BlobPart]) }));

async function rejection(p: Promise<unknown>): Promise<CheckpointError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(CheckpointError);
  return e as CheckpointError;
}

describe('streaming import', () => {
  it('validates a dropped folder from its headers, stores its Blobs, and the stored model loads tensor by tensor', async () => {
    const db = freshDb();
    const row = await importModelSource(db, { files: filesOf(folder.files) }, 'dropped');
    expect(row.config).toEqual(TINY_CONFIG);
    const stored = await db.modelFiles.where('modelId').equals(row.id).toArray();
    expect(stored.map((r) => r.path).sort()).toEqual([...folder.files.keys()].sort());
    expect(stored.find((r) => r.path === 'model.safetensors')!.blob.size).toBe(folder.files.get('model.safetensors')!.length);

    const reads: string[] = [];
    const store = storeFolder(db, row.id);
    const spy: FolderReader = { ...store, read: (n) => (reads.push(n), store.read(n)) };
    const progress: LoadProgress[] = [];
    const model = await loadModel(spy, (p) => void progress.push(p));
    expect(await logitsOf(model)).toEqual(reference);
    model.dispose();
    expect(reads).not.toContain('model.safetensors'); // ranged reads only
    expect(progress).toHaveLength(parameterShapes(TINY_CONFIG).size);
    expect(progress.at(-1)!.loadedBytes).toBe(progress.at(-1)!.totalBytes);
  });

  it('unzips a deflated zip entry by entry (one top folder stripped) and imports it', async () => {
    const entries = Object.fromEntries([...folder.files].map(([n, b]) => [`Qwen3-tiny/${n}`, b]));
    const zip = new Blob([zipSync({ ...entries, 'Qwen3-tiny/': new Uint8Array(0) }, { level: 6 }) as BlobPart]);
    const files = await filesFromZip(zip);
    expect(files.map((f) => f.path).sort()).toEqual([...folder.files.keys()].sort());
    for (const f of files) expect(new Uint8Array(await f.blob.arrayBuffer())).toEqual(folder.files.get(f.path));
    const db = freshDb();
    const row = await importModelSource(db, { zip });
    const model = await loadModel(storeFolder(db, row.id));
    expect(await logitsOf(model)).toEqual(reference);
    model.dispose();
  });

  it('names the file and tensor of a malformed header, a tensor cut short, a shape config.json does not allow, and a bad zip', async () => {
    const db = freshDb();
    const weights = folder.files.get('model.safetensors')!;
    const withWeights = (bytes: Uint8Array) => filesOf(new Map([...folder.files, ['model.safetensors', bytes]]));

    const notJson = weights.slice();
    notJson[8] = 0x5b; // '{' → '['
    let e = await rejection(importModelSource(db, { files: withWeights(notJson) }));
    expect(e.message).toMatch(/^model\.safetensors: header is not valid JSON/);
    expect(e.file).toBe('model.safetensors');

    e = await rejection(importModelSource(db, { files: withWeights(weights.subarray(0, weights.length - 4)) }));
    expect(e.message).toMatch(/^model\.safetensors: data cut short: tensor "model\.norm\.weight" ends at byte \d+ of the data but only \d+ bytes follow the header/);
    expect([e.file, e.tensor]).toEqual(['model.safetensors', 'model.norm.weight']);

    const config = JSON.parse(new TextDecoder().decode(folder.files.get('config.json')!));
    const wider = new Map([...folder.files, ['config.json', new TextEncoder().encode(JSON.stringify({ ...config, intermediate_size: 96 }))]]);
    e = await rejection(importModelSource(db, { files: filesOf(wider) }));
    expect(e.message).toMatch(/model\.safetensors: tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[64,32\] but the config needs \[96,32\]/);
    expect(e.tensor).toBe('model.layers.0.mlp.gate_proj.weight');

    e = await rejection(importModelSource(db, { zip: new File([new TextEncoder().encode('this is not a zip')], 'model.zip') }));
    expect(e.message).toMatch(/model\.zip (holds no files|could not be unzipped)/);
    expect(await db.models.count()).toBe(0);
    expect(await db.modelFiles.count()).toBe(0);
  });
});

describe('loadModel by ranges', () => {
  it('reads a folder on disk header first, then by ranges (never the weights file whole)', async () => {
    const disk = nodeFolder(dir);
    const whole: string[] = [];
    const model = await loadModel({ ...disk, read: (n) => (whole.push(n), disk.read(n)) });
    expect(await logitsOf(model)).toEqual(reference);
    model.dispose();
    expect(whole).toEqual(['config.json', 'model.safetensors.index.json']); // the index is looked for, and is absent
  });

  describe('over HTTP', () => {
    let server: Server;
    let base: string;
    let honourRange = true;
    const log: { path: string; range?: string }[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        const path = decodeURIComponent(req.url!.split('?')[0]).replace(/^\/m\//, '');
        log.push({ path, range: req.headers.range });
        let bytes: Buffer;
        try {
          if (path.includes('/')) throw new Error('no');
          statSync(join(dir, path));
          bytes = readFileSync(join(dir, path));
        } catch {
          res.writeHead(404).end();
          return;
        }
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (honourRange && m) {
          const [a, b] = [Number(m[1]), Math.min(Number(m[2]), bytes.length - 1)];
          res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${bytes.length}`, 'Content-Length': b - a + 1 }).end(bytes.subarray(a, b + 1));
        } else {
          res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}/m/`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('reads weights with Range requests', async () => {
      honourRange = true;
      log.length = 0;
      const model = await loadModel(urlFolder(base));
      expect(await logitsOf(model)).toEqual(reference);
      model.dispose();
      const weights = log.filter((l) => l.path === 'model.safetensors');
      expect(weights.length).toBeGreaterThan(parameterShapes(TINY_CONFIG).size); // size, header length, header, each tensor
      expect(weights.every((l) => l.range)).toBe(true);
    });

    it('falls back to one whole read of the file when the server ignores Range', async () => {
      honourRange = false;
      log.length = 0;
      const model = await loadModel(urlFolder(base));
      expect(await logitsOf(model)).toEqual(reference);
      model.dispose();
      expect(log.filter((l) => l.path === 'model.safetensors')).toHaveLength(1);
    });
  });
});

describe('export of damaged weights', () => {
  it('refuses a checkpoint whose weights hold more non-finite values than the model was loaded with, naming the tensor', async () => {
    const db = freshDb();
    const m = Qwen3Model.random(TINY_CONFIG, 3);
    const weights = await m.toTensors();
    m.dispose();
    const name = 'model.layers.1.mlp.up_proj.weight';
    weights.get(name)!.data.fill(NaN, 0, 5);
    const store = new CheckpointStore(db, 16 * 1024);
    const write = async (nonFiniteAtLoad?: Record<string, number>) => {
      const r = await store.write({
        modelId: 'm', step: 4, trainConfig: {}, profile: 'plain_sft', tokenizerRef: 'mem:', reason: 'test',
        trainerState: { modelConfig: TINY_CONFIG, optimizerStep: 4, itemId: null, progress: null, ...(nonFiniteAtLoad ? { nonFiniteAtLoad } : {}) },
        tensors: [...weights].map(([n, t]) => ({ name: `model/${n}`, dtype: 'float32' as const, shape: t.shape, data: t.data })),
      });
      if (!r.saved) throw new Error(r.message);
      return r.id;
    };
    const e = await rejection(exportCheckpointAs(db, await write(), { folder: () => folder }));
    expect(e.message).toMatch(/step 4 has 5 non-finite values in model\.layers\.1\.mlp\.up_proj\.weight: it is not exported/);
    expect(e.tensor).toBe(name);
    await rejection(exportCheckpointAs(db, await write({ [name]: 4 }), { folder: () => folder }));
    const ok = await exportCheckpointAs(db, await write({ [name]: 5 }), { folder: () => folder }); // damaged when loaded: kept as it was
    expect(ok.files).toContain('model.safetensors');
  });
});
