/**
 * Profiles as the daemon builds them, and the regime-3 codebook that lives with a model: built once from the
 * canonical assistant answers of the first regime3 file a model trains on, stored on its model row (with a lineage
 * note), reused by every later file, resume, export and preview. The profile's options come from the training config.
 */
import type { TrainConfig } from '../engine/config/train-config.ts';
import { readLines } from '../engine/data/jsonl.ts';
import { normalizeRow } from '../engine/data/normalize.ts';
import { ConfigError, ValidationError } from '../engine/errors.ts';
import type { ChatExample } from '../engine/types.ts';
import { getProfile, profileCatalog, profileNames, type Profile } from '../profiles/index.ts';
import { createRegime3 } from '../profiles/regime3.ts';
import { profileOptionsFrom } from '../profiles/options.ts';
import { buildCodebook } from '../regime3/codebook.ts';
import type { CodebookData } from '../regime3/codebook-types.ts';
import { SexprParseError, normalize } from '../regime3/sexpr.ts';
import type { ModelRow, QueueItemRow, WorkbenchDb } from '../store/db.ts';

export const REGIME3 = 'regime3';

/** getProfile options for `config`: the seed, and for regime3 the config's data mode with the model's codebook. */
export const profileOptions = profileOptionsFrom;

/** The config's profile; regime3 without a codebook is a ConfigError saying when one is made. */
export function buildProfile(config: TrainConfig, codebook?: CodebookData): Profile {
  if (config.profile === REGIME3 && !codebook) {
    throw new ConfigError('the regime3 profile needs the model\'s codebook; it is built from the first regime3 file the model trains on', 'regime3.codebook');
  }
  return getProfile(config.profile, profileOptions(config, codebook));
}

/** Chat template of a profile by name, without building it (regime3 needs a codebook to be built). */
export function templateOf(profileName: string): 'stock' | 'chatml' {
  const info = profileCatalog.find((p) => p.name === profileName);
  if (!info) throw new ConfigError(`unknown profile "${profileName}"; expected one of: ${profileNames.join(', ')}`, 'profile', profileNames.join(', '));
  return info.chatTemplate;
}

/**
 * Tokens a model with this codebook has (codes, literal markers, byte codes, answer markers), in the order they
 * were added: a tokenizer given them in this order gets the same ids the model was trained with.
 */
export function codebookTokens(codebook: CodebookData | undefined): string[] {
  return codebook ? (createRegime3({ regime3: { codebook } }).addedTokens?.() ?? []) : [];
}

/** The last assistant message of a normalized example. */
function answerOf(example: ChatExample): string | undefined {
  for (let i = example.messages.length - 1; i >= 0; i--) if (example.messages[i].role === 'assistant') return example.messages[i].content;
  return undefined;
}

/**
 * What the profile needs of every example beyond the engine's checks: regime3 trains on canonical S-expression
 * answers, so the last assistant message must parse (the message says where). Null when the example is fine.
 */
export function profileAnswerIssue(profileName: string, example: ChatExample): { field: string; message: string } | null {
  if (profileName !== REGIME3) return null;
  const k = example.messages.map((m) => m.role).lastIndexOf('assistant');
  if (k < 0) return null;
  try {
    normalize(example.messages[k].content);
    return null;
  } catch (e) {
    if (!(e instanceof SexprParseError)) throw e;
    return { field: `messages[${k}].content`, message: `is not a canonical S-expression (the regime3 profile needs one): ${e.message}` };
  }
}

/**
 * Canonical assistant answers of a JSONL Blob, streamed line by line. Lines that do not normalize are skipped (the
 * validator already decided about them); an answer that is not an S-expression is a ValidationError with its line.
 */
export async function canonicalAnswers(blob: Blob, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const { line, text } of readLines(blob.stream() as ReadableStream<Uint8Array>)) {
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      continue;
    }
    const n = normalizeRow(row);
    if (!n.ok) continue;
    const answer = answerOf(n.example);
    if (answer === undefined) continue;
    try {
      out.push(normalize(answer));
    } catch (e) {
      if (!(e instanceof SexprParseError)) throw e;
      throw new ValidationError(`${name}:${line}: the assistant answer is not a canonical S-expression (regime3 needs one): ${e.message}`, name, line, 'messages');
    }
  }
  if (out.length === 0) throw new ValidationError(`${name}: no canonical answers to build a regime3 codebook from`, name);
  return out;
}

/** A codebook built from one file's answers (the daemon's first regime3 file, or a preview before it). */
export async function codebookFromFile(blob: Blob, name: string, size: number): Promise<CodebookData> {
  const answers = await canonicalAnswers(blob, name);
  const data = buildCodebook(answers, { size }, name);
  return { ...data, built: { ...data.built!, createdAt: new Date().toISOString() } };
}

/**
 * The model's codebook, built and stored now when the config asks for regime3 and the model has none yet.
 * Returns the (possibly updated) model row; a model that has a codebook keeps it forever.
 */
export async function ensureModelCodebook(db: WorkbenchDb, model: ModelRow, config: TrainConfig, item: QueueItemRow): Promise<ModelRow> {
  if (config.profile !== REGIME3 || model.codebook) return model;
  const file = await db.files.get(item.fileId);
  if (!file) throw new Error(`the stored file of "${item.name}" is missing`);
  const codebook = await codebookFromFile(file.blob, item.name, config.regime3.codebookSize);
  const tokens = codebookTokens(codebook).length;
  return db.transaction('rw', db.models, async () => {
    const cur = await db.models.get(model.id);
    if (!cur) throw new Error(`model "${model.id}" does not exist`);
    if (cur.codebook) return cur; // built meanwhile (another tab): keep that one
    const lineage = [
      ...cur.lineage,
      { itemId: item.id!, fileName: item.name, fromStep: cur.step, toStep: cur.step, outcome: 'in_progress' as const, codebook: { size: codebook.size, addedTokens: tokens } },
    ];
    await db.models.update(model.id, { codebook, lineage });
    return { ...cur, codebook, lineage };
  });
}
