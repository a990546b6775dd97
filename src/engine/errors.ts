/**
 * Typed errors of the engine. Each reaches the person as one clear sentence (`message`) with details
 * on demand; data and I/O problems are values the UI can show, programmer errors fail loudly.
 */

/** A bad data row or file: names the file, the 1-based line and the field. */
export class ValidationError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** A config value outside what the engine can honour: names the field and what is allowed. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly allowed?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A checkpoint or model folder that cannot be read or written as asked. */
export class CheckpointError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly tensor?: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Training cannot go on (too many non-finite steps, out of memory, ...). */
export class TrainingError extends Error {
  constructor(
    message: string,
    readonly kind: 'non_finite' | 'out_of_memory' | 'config' | 'data' | 'checkpoint' | 'internal',
  ) {
    super(message);
    this.name = 'TrainingError';
  }
}
