/**
 * Downloads from the Hugging Face Hub in progress, so one interrupted by a reload resumes where it stopped: what is
 * being downloaded (repo, revision, each file's size and ETag) and the bytes received so far, as fixed-size chunks.
 * A database of its own (not WorkbenchDb): it is a cache of the network, never backed up or exported; the finished
 * model is stored in the workbench's database like any imported folder, and its rows here are then deleted.
 */
import { Dexie, type EntityTable, type Table } from 'dexie';

/** Bytes of one stored chunk (a file's chunks are this size, its last one shorter). */
export const HUB_CHUNK_BYTES = 4 * 1024 * 1024;

export interface HubDownloadFile {
  path: string;
  size: number;
  /** The ETag the received bytes belong to; a different one on resume restarts the file. */
  etag?: string;
}

export interface HubDownloadRow {
  /** `${hubUrl}|${repo}|${revision}`. */
  id: string;
  hubUrl: string;
  repo: string;
  /** The revision the person asked for (branch, tag or commit). */
  revision: string;
  /** The commit it pointed at when the download started: every file comes from this one commit. */
  sha: string;
  files: HubDownloadFile[];
  /** Whether the repo asked for a token (gated) — the token itself is never stored here. */
  gated: boolean;
  createdAt: number;
}

export interface HubChunkRow {
  downloadId: string;
  path: string;
  index: number;
  /** Length of `blob` (kept so a file's received bytes are summed without reading the blobs). */
  bytes: number;
  blob: Blob;
}

export class HubDownloadsDb extends Dexie {
  downloads!: EntityTable<HubDownloadRow, 'id'>;
  chunks!: Table<HubChunkRow, [string, string, number]>;

  constructor(name = 'training-workbench-hub') {
    super(name);
    this.version(1).stores({ downloads: 'id, createdAt', chunks: '[downloadId+path+index], [downloadId+path], downloadId' });
  }
}

/** Stored downloads and chunks, through one database. */
export class HubDownloads {
  constructor(readonly db: HubDownloadsDb = new HubDownloadsDb()) {}

  get(id: string): Promise<HubDownloadRow | undefined> {
    return this.db.downloads.get(id);
  }

  /** Unfinished downloads, oldest first. */
  list(): Promise<HubDownloadRow[]> {
    return this.db.downloads.orderBy('createdAt').toArray();
  }

  put(row: HubDownloadRow): Promise<string> {
    return this.db.downloads.put(row);
  }

  /** Bytes of `path` received so far (its chunks, in order, are whole but for the file's last one). */
  async received(id: string, path: string): Promise<number> {
    let n = 0;
    await this.db.chunks.where('[downloadId+path]').equals([id, path]).each((c) => void (n += c.bytes));
    return n;
  }

  /** Number of chunks of `path` stored (the next chunk's index). */
  chunkCount(id: string, path: string): Promise<number> {
    return this.db.chunks.where('[downloadId+path]').equals([id, path]).count();
  }

  addChunk(row: HubChunkRow): Promise<unknown> {
    return this.db.chunks.put(row);
  }

  /** Forgets what was received of one file (its ETag changed, or the server sent it whole). */
  clearFile(id: string, path: string): Promise<number> {
    return this.db.chunks.where('[downloadId+path]').equals([id, path]).delete();
  }

  /** The received file as one Blob made of its chunks (no copy into JS memory). */
  async fileBlob(id: string, path: string): Promise<Blob> {
    const chunks = await this.db.chunks.where('[downloadId+path]').equals([id, path]).sortBy('index');
    return new Blob(chunks.map((c) => c.blob));
  }

  /** Deletes a download and its chunks. */
  async remove(id: string): Promise<void> {
    await this.db.transaction('rw', this.db.downloads, this.db.chunks, async () => {
      await this.db.chunks.where('downloadId').equals(id).delete();
      await this.db.downloads.delete(id);
    });
  }
}
