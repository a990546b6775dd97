/**
 * The stored form of a regime-3 codebook (versioned JSON, exported with the model). Built by
 * codebook.ts, read by encode.ts / decode.ts; this file holds only the record shape.
 */

/** One code: either a base expression token (`(`, `)`, or a normalized atom) or a merge of two codes. */
export type CodebookEntry = { code: string; token: string } | { code: string; merge: [string, string] };

export interface CodebookData {
  format: 'regime3-codebook';
  /** Format version of this record; readers reject versions they do not know. */
  version: 1;
  /** Number of `<E…>` codes (entries.length). */
  size: number;
  /** Entries in code order: entries[i].code = `<E` + i padded to `digits` + `>`. */
  entries: CodebookEntry[];
  /** Literal spelling of atoms outside the codebook: begin, UTF-8 bytes as `<Lxx>`, end. */
  literal: { begin: string; end: string };
  /** Where the codebook came from (corpus size, date); informational. */
  built?: { expressions: number; tokens: number; createdAt?: string };
}
