/**
 * Checkpoint repository: named tensors + trainer state written as ≤ 64 MB chunks FIRST and a manifest row LAST,
 * so a crash never leaves a checkpoint that looks complete (tensors may be streamed in one at a time); reads, and
 * automatic retention by the planner's protection rules and size budget (retention.ts), each deletion in the event
 * log. Save results are data, not exceptions.
 */
import { MAIN_BRANCH, type CheckpointChunkRow, type CheckpointRow, type WorkbenchDb } from './db.ts';
import { formatSize, planRetention, type DayOf, type RetentionPlan, type RetentionPolicy } from './retention.ts';
import { EventRepo } from './state.ts';
import { crc32 } from './crc32.ts';
import { VersionRepo, versionName } from './versions.ts';

export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

export interface CheckpointTensor {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Everything of a checkpoint but its tensors: the manifest's own fields (the store fills in id, chunks, sizes, time). */
export type CheckpointMeta = Pick<CheckpointRow, 'modelId' | 'step' | 'trainerState' | 'trainConfig' | 'profile' | 'tokenizerRef' | 'valLoss' | 'reason'> & {
  pinned?: boolean;
};

export interface CheckpointInput extends CheckpointMeta {
  tensors: CheckpointTensor[];
}

/** What a retention run may be told besides the policy (tests inject the clock and the day function). */
export interface RetentionOptions {
  now?: number;
  dayOf?: DayOf;
  /** Checkpoints the caller knows must stay, each with its reason. */
  protect?: readonly { id: string; reason: string }[];
}

export type CheckpointSaveResult =
  | { saved: true; id: string; bytes: number }
  | { saved: false; failed: 'quota' | 'error'; message: string };

export interface WriteHooks {
  /** Runs after every chunk is stored and before the manifest (tests use it to simulate a crash). */
  beforeManifest?: () => Promise<void> | void;
}

/** True for an IndexedDB/Dexie quota failure (DOMException or DexieError, possibly wrapped). */
export function isQuotaError(e: unknown): boolean {
  for (let x: unknown = e, i = 0; x && i < 4; i++) {
    const o = x as { name?: string; inner?: unknown; cause?: unknown };
    if (o.name === 'QuotaExceededError') return true;
    x = o.inner ?? o.cause;
  }
  return false;
}

function checkTensor(t: CheckpointTensor): void {
  const expected = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== expected) {
    throw new Error(`checkpoint tensor "${t.name}": shape [${t.shape}] needs ${expected} values, got ${t.data.length}`);
  }
}

/** A stored chunk that is not what was written (wrong length or CRC-32): the checkpoint cannot be loaded as it is. */
export class CheckpointDamagedError extends Error {
  constructor(
    message: string,
    readonly checkpointId: string,
    readonly chunk: number,
  ) {
    super(message);
    this.name = 'CheckpointDamagedError';
  }
}

/** Throws CheckpointDamagedError unless chunk `c` has the length and (when the manifest has them) the CRC-32 written. */
function checkChunk(m: CheckpointRow, c: number, bytes: Uint8Array): void {
  const length = Math.max(0, Math.min(m.chunkBytes, m.bytes - c * m.chunkBytes));
  const what = `checkpoint "${m.id}" (step ${m.step}): chunk ${c} of ${m.chunkCount}`;
  if (bytes.length !== length) throw new CheckpointDamagedError(`${what} is damaged: ${bytes.length} bytes where ${length} were written`, m.id, c);
  const want = m.chunkCrc32?.[c];
  if (want === undefined) return;
  const got = crc32(bytes);
  if (got !== want) throw new CheckpointDamagedError(`${what} is damaged: its CRC-32 is ${hex(got)} where ${hex(want)} was written`, m.id, c);
}

const hex = (n: number) => n.toString(16).padStart(8, '0');

export class CheckpointStore {
  constructor(
    private readonly db: WorkbenchDb,
    private readonly chunkBytes = DEFAULT_CHUNK_BYTES,
  ) {}

  /** Writes all chunks, then the manifest. On failure the partial chunks are removed and the reason returned. */
  async write(input: CheckpointInput, hooks: WriteHooks = {}): Promise<CheckpointSaveResult> {
    input.tensors.forEach(checkTensor); // before anything is written
    const { tensors, ...meta } = input;
    return this.writeStream(meta, tensors, hooks);
  }

  /**
   * Writes tensors as they come: each is copied into the current chunk, a chunk is stored (and dropped) as soon as
   * it is full, and the manifest goes last; so at most one chunk plus the tensor being copied is held, never the
   * whole checkpoint. A store failure (quota included) removes the chunks written and is returned; a failure of the
   * source (a tensor that cannot be read, data not matching its shape) removes them and is thrown.
   */
  async writeStream(meta: CheckpointMeta, tensors: AsyncIterable<CheckpointTensor> | Iterable<CheckpointTensor>, hooks: WriteHooks = {}): Promise<CheckpointSaveResult> {
    const id = `${meta.modelId}@${meta.step}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const entries: CheckpointRow['tensors'] = [];
    const it = Symbol.asyncIterator in tensors ? tensors[Symbol.asyncIterator]() : tensors[Symbol.iterator]();
    let total = 0;
    let chunkCount = 0;
    let buf: Uint8Array | null = null;
    let pos = 0; // bytes of buf filled
    let fromSource = false;
    const crcs: number[] = [];
    const flush = async () => {
      const data = !buf ? new ArrayBuffer(0) : pos === buf.length ? buf.buffer : buf.slice(0, pos).buffer;
      buf = null;
      pos = 0;
      crcs.push(crc32(new Uint8Array(data)));
      await this.db.checkpointChunks.put({ checkpointId: id, index: chunkCount, data: data as ArrayBuffer });
      chunkCount++;
    };
    try {
      for (;;) {
        fromSource = true;
        const next = await it.next();
        if (next.done) break;
        checkTensor(next.value);
        fromSource = false;
        const t = next.value;
        entries.push({ name: t.name, dtype: t.dtype, shape: t.shape, offset: total, byteLength: t.data.byteLength });
        const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        for (let off = 0; off < src.length; ) {
          buf ??= new Uint8Array(this.chunkBytes);
          const n = Math.min(buf.length - pos, src.length - off);
          buf.set(src.subarray(off, off + n), pos);
          pos += n;
          off += n;
          total += n;
          if (pos === buf.length) await flush();
        }
      }
      fromSource = false;
      if (pos > 0 || chunkCount === 0) await flush(); // the last partial chunk (an empty checkpoint has one empty chunk)
      await hooks.beforeManifest?.();
      const prev = await this.db.checkpoints.where('modelId').equals(meta.modelId).toArray();
      const createdAt = Math.max(Date.now(), ...prev.map((r) => r.createdAt + 1)); // strictly newest
      const row: CheckpointRow = {
        id,
        modelId: meta.modelId,
        step: meta.step,
        createdAt,
        chunkCount,
        chunkBytes: this.chunkBytes,
        bytes: total,
        chunkCrc32: crcs,
        pinned: meta.pinned ?? false,
        tensors: entries,
        trainerState: meta.trainerState,
        trainConfig: meta.trainConfig,
        profile: meta.profile,
        tokenizerRef: meta.tokenizerRef,
        valLoss: meta.valLoss,
        reason: meta.reason,
        branch: (await this.db.models.get(meta.modelId))?.branch ?? MAIN_BRANCH, // the model's current branch
      };
      await this.db.checkpoints.put(row);
      return { saved: true, id, bytes: total };
    } catch (e) {
      buf = null;
      await Promise.resolve(it.return?.()).catch(() => undefined); // let the source release what it holds
      await this.db.checkpointChunks.where('checkpointId').equals(id).delete().catch(() => undefined);
      if (fromSource) throw e;
      return { saved: false, failed: isQuotaError(e) ? 'quota' : 'error', message: e instanceof Error ? e.message : String(e) };
    }
  }

  /**
   * The manifest and its tensors (those `only` accepts; all by default), reading just the chunks that hold them.
   * Throws when the manifest or a needed chunk is missing, and CheckpointDamagedError when a chunk read is damaged.
   */
  async read(id: string, only?: (name: string) => boolean): Promise<{ manifest: CheckpointRow; tensors: CheckpointTensor[] }> {
    const manifest = await this.db.checkpoints.get(id);
    if (!manifest) throw new Error(`checkpoint "${id}" does not exist (no manifest)`);
    const entries = only ? manifest.tensors.filter((e) => only(e.name)) : manifest.tensors;
    const out: CheckpointTensor[] = entries.map((e) => {
      const n = e.byteLength / 4;
      return { name: e.name, dtype: e.dtype, shape: e.shape, data: e.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n) };
    });
    const needed = new Set<number>();
    for (const e of entries) {
      for (let c = Math.floor(e.offset / manifest.chunkBytes); c * manifest.chunkBytes < e.offset + e.byteLength; c++) needed.add(c);
    }
    for (const c of [...needed].sort((a, b) => a - b)) {
      const chunk = await this.db.checkpointChunks.get([id, c]);
      if (!chunk) throw new Error(`checkpoint "${id}": chunk ${c} of ${manifest.chunkCount} is missing`);
      const bytes = new Uint8Array(chunk.data);
      checkChunk(manifest, c, bytes);
      const start = c * manifest.chunkBytes;
      const end = start + bytes.length;
      entries.forEach((e, i) => {
        const a = Math.max(start, e.offset);
        const b = Math.min(end, e.offset + e.byteLength);
        if (a >= b) return;
        const d = out[i].data;
        new Uint8Array(d.buffer, d.byteOffset, d.byteLength).set(bytes.subarray(a - start, b - start), a - e.offset);
      });
    }
    return { manifest, tensors: out };
  }

  /**
   * The checkpoint's tensors (those `only` accepts; all by default), in stored order, each yielded as soon as its
   * bytes are read: one chunk is read at a time and a tensor is assembled across chunks, so at most one chunk plus
   * one tensor is held (a 0.6B checkpoint with optimizer state is ~7 GB). Each yielded tensor owns its data.
   * Throws when the manifest or a needed chunk is missing, and CheckpointDamagedError (naming the chunk) when a chunk
   * read has another length or CRC-32 than was written.
   */
  async *readStream(id: string, only?: (name: string) => boolean): AsyncGenerator<CheckpointTensor> {
    const manifest = await this.db.checkpoints.get(id);
    if (!manifest) throw new Error(`checkpoint "${id}" does not exist (no manifest)`);
    yield* this.streamTensors(manifest, only);
  }

  /** readStream for a manifest already at hand. */
  async *streamTensors(manifest: CheckpointRow, only?: (name: string) => boolean): AsyncGenerator<CheckpointTensor> {
    const size = manifest.chunkBytes;
    let held = -1; // index of the chunk in `bytes`
    let bytes = new Uint8Array(0);
    for (const e of manifest.tensors) {
      if (only && !only(e.name)) continue;
      const data = e.dtype === 'int32' ? new Int32Array(e.byteLength / 4) : new Float32Array(e.byteLength / 4);
      const out = new Uint8Array(data.buffer);
      for (let c = Math.floor(e.offset / size); c * size < e.offset + e.byteLength; c++) {
        if (held !== c) {
          bytes = new Uint8Array(0); // drop the previous chunk before reading the next
          const row: CheckpointChunkRow | undefined = await this.db.checkpointChunks.get([manifest.id, c]);
          if (!row) throw new Error(`checkpoint "${manifest.id}": chunk ${c} of ${manifest.chunkCount} is missing`);
          bytes = new Uint8Array(row.data);
          checkChunk(manifest, c, bytes);
          held = c;
        }
        const start = c * size;
        const a = Math.max(start, e.offset);
        const b = Math.min(start + bytes.length, e.offset + e.byteLength);
        if (a < b) out.set(bytes.subarray(a - start, b - start), a - e.offset);
      }
      yield { name: e.name, dtype: e.dtype, shape: e.shape, data };
    }
  }

  /**
   * Complete checkpoints of a model, newest first (by creation time, then step): after training resumed from an
   * older checkpoint, the new branch's checkpoints are the latest even when an abandoned one has a higher step.
   */
  async list(modelId?: string): Promise<CheckpointRow[]> {
    const rows = modelId ? await this.db.checkpoints.where('modelId').equals(modelId).toArray() : await this.db.checkpoints.toArray();
    return rows.sort((a, b) => b.createdAt - a.createdAt || b.step - a.step);
  }

  /** The newest checkpoint training continues from: one a rollback left behind (abandonedAt) is not it. */
  async latest(modelId: string): Promise<CheckpointRow | undefined> {
    const all = await this.list(modelId);
    return all.find((r) => r.abandonedAt === undefined) ?? all[0];
  }

  /** Deletes chunks that have no manifest (left by a crash mid-write). Call before a trainer starts writing. */
  async sweepOrphans(): Promise<number> {
    const ids = new Set((await this.db.checkpoints.toCollection().primaryKeys()) as string[]);
    const keys = (await this.db.checkpointChunks.toCollection().primaryKeys()) as [string, number][];
    const orphan = keys.filter(([cid]) => !ids.has(cid));
    await this.db.checkpointChunks.bulkDelete(orphan);
    return orphan.length;
  }

  /**
   * Dry run of automatic retention for a model now: what would be deleted and why each kept checkpoint stays
   * (src/store/retention.ts). The checkpoint the model resumes from (ModelRow.resumeFrom) and those of its named
   * versions are always protected.
   */
  async retentionPlan(modelId: string, policy: RetentionPolicy, opts: RetentionOptions = {}): Promise<RetentionPlan> {
    const [checkpoints, model, versions] = await Promise.all([this.list(modelId), this.db.models.get(modelId), new VersionRepo(this.db).list(modelId)]);
    return planRetention({
      checkpoints, policy, now: opts.now ?? Date.now(), dayOf: opts.dayOf, resumeFrom: model?.resumeFrom, protect: opts.protect,
      versions: versions.map((v) => ({ checkpointId: v.checkpointId, name: versionName(v), title: v.title })),
    });
  }

  /**
   * Applies retention right after a complete write, so an older checkpoint goes only once a newer one is whole:
   * deletes the plan's checkpoints oldest first and records each in the event log (kind 'deletion': checkpoint id,
   * step, bytes and the rule that let it go). Returns the plan it applied.
   */
  async applyRetention(modelId: string, policy: RetentionPolicy, opts: RetentionOptions = {}): Promise<RetentionPlan> {
    const now = opts.now ?? Date.now();
    const plan = await this.retentionPlan(modelId, policy, { ...opts, now });
    const events = new EventRepo(this.db);
    for (const d of plan.delete) {
      await this.remove(d.id);
      await events.add({
        at: now,
        kind: 'deletion',
        message: `Retention deleted the checkpoint at step ${d.step} (${formatSize(d.bytes)}): ${d.why}.`,
        modelId,
        checkpointId: d.id,
        detail: { step: d.step, bytes: d.bytes, rule: 'size budget', why: d.why, budgetBytes: plan.budgetBytes },
      });
    }
    return plan;
  }

  /** Manifest first, then chunks: a half-deleted checkpoint never looks complete. */
  async remove(id: string): Promise<void> {
    await this.db.checkpoints.delete(id);
    await this.db.checkpointChunks.where('checkpointId').equals(id).delete();
  }

  async setPinned(id: string, pinned: boolean): Promise<void> {
    await this.db.checkpoints.update(id, { pinned });
  }
}
