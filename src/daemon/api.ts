/**
 * The facade the UI calls: queue commands, daemon controls, checkpoints and models, config, export/import.
 * The UI reads state through Dexie liveQuery on the store's tables (see src/store/queries.ts) and writes only through here.
 */
import type {
  CheckpointRow,
  ControlKind,
  ModelRow,
  Priority,
  QueueItemRow,
} from '../store/db.ts';

export type { Priority, ControlKind };

export interface AddFilesOptions {
  priority: Priority;
  /** Queue the valid lines of a file with bad lines instead of failing it; the skipped lines are listed. */
  skipInvalidLines?: boolean;
}

export interface DroppedFile {
  /** File name as dropped (folders flattened: `{stem}_{subfolder}.jsonl`). */
  name: string;
  blob: Blob;
}

export interface AddFileResult {
  name: string;
  /** Set when the file was accepted (it is now `validating`). */
  itemId?: number;
  /** Item id of an earlier item with the same content (flagged, still queued). */
  duplicateOf?: number;
  /** Why the file was refused (e.g. its name already failed 3 times). */
  refused?: string;
}

export interface ErrorReport {
  fileName: string;
  blob: Blob;
}

/** What deleting a checkpoint would lose, or why it is not allowed. */
export interface DeletionPlan {
  allowed: boolean;
  /** One sentence naming what is lost (steps, files), or why it is refused. */
  message: string;
}

export interface ExportOptions {
  dtype?: 'float32' | 'bfloat16';
  /** When given (File System Access API), files are written into it instead of a zip. */
  directory?: FileSystemDirectoryHandle;
}
export interface ExportResult {
  /** The streamed zip (absent when written into a directory). */
  zip?: Blob;
  fileName: string;
  files: string[];
}

/** Files of a model folder (relative paths) or one zip of it. */
export type ImportSource = { files: { path: string; blob: Blob }[] } | { zip: Blob };

export type ConfigValues = Record<string, number | string | boolean>;
export interface ConfigSetResult {
  ok: boolean;
  /** Per-field messages (field, message) when not ok; locked fields say why. */
  errors: { field: string; message: string }[];
  config: ConfigValues;
}

export type SaveResult = { saved: true } | { saved: false; failed: string };

export interface WorkbenchApi {
  addFiles(files: DroppedFile[], opts: AddFilesOptions): Promise<AddFileResult[]>;
  reprioritize(itemId: number, priority: Priority): Promise<void>;
  moveUp(itemId: number): Promise<void>;
  moveDown(itemId: number): Promise<void>;
  /** Failed or skipped item back to `queued` (failed: attempts kept; refused past 3). */
  retry(itemId: number): Promise<void>;
  /** Delete a non-processing item and its stored file. */
  remove(itemId: number): Promise<void>;
  /** The failed file's line errors as a text report. */
  downloadErrorReport(itemId: number): Promise<ErrorReport>;

  pause(reason?: string): Promise<void>;
  resume(reason?: string): Promise<void>;
  stop(reason?: string): Promise<void>;
  skip(reason?: string): Promise<void>;

  listCheckpoints(modelId?: string): Promise<CheckpointRow[]>;
  /** Makes the checkpoint's model active and this checkpoint its resume point. */
  setActiveCheckpoint(checkpointId: string): Promise<void>;
  setActiveModel(modelId: string): Promise<void>;
  pinCheckpoint(checkpointId: string, pinned: boolean): Promise<void>;
  planCheckpointDeletion(checkpointId: string): Promise<DeletionPlan>;
  deleteCheckpoint(checkpointId: string): Promise<DeletionPlan>;
  exportCheckpoint(checkpointId: string, opts?: ExportOptions): Promise<ExportResult>;
  importModel(source: ImportSource, name?: string): Promise<ModelRow>;

  getConfig(): Promise<ConfigValues>;
  setConfig(patch: ConfigValues): Promise<ConfigSetResult>;

  /** Queues the built-in example dataset (generated in code). */
  addSampleDataset(): Promise<AddFileResult[]>;
  storageEstimate(): Promise<{ usage: number; quota: number; persisted: boolean }>;
}

export type { QueueItemRow, CheckpointRow, ModelRow };
