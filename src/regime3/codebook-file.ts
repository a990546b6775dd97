/** Node-only: reads and checks a codebook JSON file (for CLI commands and `getProfile('regime3', …)` callers in Node). */
import { readFileSync } from 'node:fs';
import { ValidationError } from '../engine/errors.ts';
import type { CodebookData } from './codebook-types.ts';
import { loadCodebook } from './codebook.ts';

/** The checked codebook record of `path`; a missing, unreadable or malformed file is a ValidationError naming it. */
export function readCodebookFile(path: string): CodebookData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ValidationError(`cannot read codebook ${path}: ${(e as Error).message}`, path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError(`codebook ${path} is not valid JSON: ${(e as Error).message}`, path);
  }
  return loadCodebook(json, path).data;
}
