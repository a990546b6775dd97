/**
 * `train --model DIR --data FILE [--data FILE ...] --out DIR [--steps N | --epochs E] [--config FILE] [--lr X]
 * [--warmup N] [--batch-size N] [--max-length N] [--log-every N] [--profile NAME] [--codebook FILE] [--lora [--no-merge]]
 * [--backend wasm|cpu]`: trains the files one after another (each continuing from the previous one's weights and
 * optimizer; the global step is cumulative; `--steps` is per file), prints one JSON line per log interval, writes a
 * Hugging Face folder (with `--lora --no-merge`, a PEFT adapter folder). With `--profile regime3` the codebook
 * (`--codebook`, else the model folder's regime3-codebook.json) adds its codes as tokens and is saved with the model.
 * A log line: step, loss, lr, grad_norm, tokens, ms_per_step, tokens_per_s, file, file_step, file_steps, `skipped`
 * (true when the logged step had a non-finite loss or gradient and changed nothing), skipped_total and
 * file_skipped (skipped steps so far in the run and in this file). Some skipped steps still exit 0 and write --out;
 * a file whose every step was skipped is an error. The model's preset (by shape) gives the training defaults.
 * Without --backend: wasm, or cpu when this run would not fit the wasm heap (asked for a backend that cannot hold
 * the run: refused before the weights load).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { CliError, flag, numberFlag, parseArgs, requiredFlag } from '../args.ts';
import { backendFlag, readConfigFromDir, startBackend } from '../backend.ts';
import { loadModel, saveModel } from '../../engine/checkpoint.ts';
import { nodeFolder } from '../../engine/node-folder.ts';
import { RETIRED_CONFIG_KEYS, parseTrainConfig, withoutRetiredKeys, presetForModel, type PresetName, type TrainConfig } from '../../engine/config/train-config.ts';
import { loadTokenizerFromDir, openFileStream } from '../../engine/data/node-io.ts';
import { readLines } from '../../engine/data/jsonl.ts';
import { normalizeRow } from '../../engine/data/normalize.ts';
import { tokenizeExample } from '../../engine/data/collate.ts';
import { writeSafetensors } from '../../engine/safetensors.ts';
import { ConfigError, ValidationError } from '../../engine/errors.ts';
import { runJob, type JobResult } from '../../engine/train.ts';
import { getProfile, type Profile } from '../../profiles/index.ts';
import { profileOptionsFrom } from '../../profiles/options.ts';
import { readCodebookFile } from '../../regime3/codebook-file.ts';
import type { CodebookData } from '../../regime3/codebook-types.ts';
import { join } from 'node:path';
import type { ChatTokenizer, ExampleSource, ModelConfig, TokenizedExample } from '../../engine/types.ts';

const VALUE_FLAGS = ['model', 'data', 'out', 'steps', 'epochs', 'config', 'lr', 'warmup', 'batch-size', 'max-length', 'log-every', 'profile', 'codebook', 'backend'];
const CODEBOOK_FILE = 'regime3-codebook.json';
const BOOL_FLAGS = ['lora', 'no-merge'];

/** The preset whose training defaults apply to the model (the engine's presetForModel, shared with the daemon). */
export function presetOf(c: ModelConfig): PresetName {
  return presetForModel(c);
}

/** Reads a JSONL file, normalises, transforms with the profile and tokenizes every row; errors name file, line, field. */
async function loadExamples(path: string, tokenizer: ChatTokenizer, profile: Profile, maxLength: number, step: number): Promise<ExampleSource> {
  const out: TokenizedExample[] = [];
  for await (const { line, text } of readLines(openFileStream(path).stream)) {
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (e) {
      throw new ValidationError(`${path}:${line}: invalid JSON (${(e as Error).message})`, path, line);
    }
    const n = normalizeRow(row);
    if (!n.ok) throw new ValidationError(`${path}:${line}: ${n.errors[0].field}: ${n.errors[0].message}`, path, line, n.errors[0].field);
    try {
      const messages = profile.transform(n.example, out.length, { step });
      out.push(tokenizeExample(tokenizer, messages, { template: profile.chatTemplate, maxLength }));
    } catch (e) {
      const v = e as ValidationError;
      throw new ValidationError(`${path}:${line}: ${v.message}`, path, line, v.field);
    }
  }
  if (out.length === 0) throw new ValidationError(`${path}: no examples`, path);
  return { size: out.length, get: (i) => out[i] };
}

async function readConfigFile(path: string): Promise<unknown> {
  if (!existsSync(path)) throw new CliError(`config file not found: ${path}`);
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new CliError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, VALUE_FLAGS, BOOL_FLAGS);
  const modelDir = requiredFlag(args, 'model');
  const outDir = requiredFlag(args, 'out');
  const dataFiles = args.flags.get('data') ?? [];
  if (dataFiles.length === 0) throw new CliError('missing required option --data FILE', 2);
  const steps = numberFlag(args, 'steps', { integer: true, min: 1 });
  const epochs = numberFlag(args, 'epochs', { min: 0.01 });
  if (steps !== undefined && epochs !== undefined) throw new CliError('give either --steps or --epochs, not both', 2);
  const lora = args.flags.has('lora');
  const noMerge = args.flags.has('no-merge');
  if (noMerge && !lora) throw new CliError('--no-merge needs --lora', 2);

  const asked = backendFlag(args);
  const modelConfig = await readConfigFromDir(modelDir);
  const preset = presetOf(modelConfig);

  const partial = (flag(args, 'config') ? await readConfigFile(flag(args, 'config')!) : {}) as Record<string, unknown>;
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) throw new CliError('the --config file must hold a JSON object');
  const overrides: Record<string, unknown> = {
    learningRate: numberFlag(args, 'lr'),
    warmupSteps: numberFlag(args, 'warmup', { integer: true }),
    batchSize: numberFlag(args, 'batch-size', { integer: true }),
    maxLength: numberFlag(args, 'max-length', { integer: true }),
    logEvery: numberFlag(args, 'log-every', { integer: true }),
    profile: flag(args, 'profile'),
  };
  const retired = Object.keys(partial).filter((k) => RETIRED_CONFIG_KEYS.includes(k));
  if (retired.length) process.stderr.write(`--config: ignoring retired field${retired.length > 1 ? 's' : ''} ${retired.join(', ')}\n`);
  const merged: Record<string, unknown> = withoutRetiredKeys(partial);
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;
  if (lora) merged.lora = { ...((partial.lora as object) ?? {}), enabled: true };
  let cfg: TrainConfig;
  try {
    cfg = parseTrainConfig({ logEvery: 1, ...merged }, preset);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message, 2);
    throw e;
  }

  const backend = await startBackend(asked, modelConfig, { kind: 'training', train: cfg });
  process.stderr.write(`backend: ${backend.reason}\n`);
  const model = await loadModel(nodeFolder(modelDir));
  const tokenizer = await loadTokenizerFromDir(modelDir);
  let codebook: CodebookData | undefined;
  if (cfg.profile === 'regime3') {
    const path = flag(args, 'codebook') ?? (existsSync(join(modelDir, CODEBOOK_FILE)) ? join(modelDir, CODEBOOK_FILE) : undefined);
    if (!path) throw new CliError(`--profile regime3 needs --codebook FILE (make one with \`regime3 build-codebook\`) or ${CODEBOOK_FILE} in the model folder`, 2);
    if (!existsSync(path)) throw new CliError(`codebook file not found: ${path}`);
    codebook = readCodebookFile(path);
  } else if (flag(args, 'codebook')) throw new CliError('--codebook is only for --profile regime3', 2);
  const profile = getProfile(cfg.profile, profileOptionsFrom(cfg, codebook));
  const added = profile.addedTokens?.() ?? [];
  if (added.length) {
    const ids = tokenizer.addTokens(added);
    const need = Math.max(...ids) + 1;
    if (need > model.config.vocabSize) model.resizeVocab(need);
  }

  let result: JobResult | undefined;
  for (const [fileIndex, path] of dataFiles.entries()) {
    const source = await loadExamples(path, tokenizer, profile, cfg.maxLength, result?.state.globalStep ?? 0);
    process.stderr.write(`${path}: ${source.size} examples\n`);
    result = await runJob(
      {
        model, source, config: cfg, padTokenId: tokenizer.padTokenId, steps, epochs,
        optimizer: result?.optimizer, lora: result?.lora,
        startGlobalStep: result?.state.globalStep ?? 0, startTokensSeen: result?.state.tokensSeen ?? 0,
      },
      {
        onLog: (m) => {
          // JSON has no NaN: a skipped step's loss or norm prints as null.
          const num = (x: number) => (Number.isFinite(x) ? x : null);
          const line = { step: m.step, loss: num(m.loss), lr: m.lr, grad_norm: num(m.gradNorm), tokens: m.tokens, ms_per_step: Math.round(m.msPerStep * 10) / 10,
            tokens_per_s: Math.round(m.tokensPerSecond), file: fileIndex, file_step: m.fileStep, file_steps: m.fileSteps,
            skipped: m.skipped, skipped_total: m.nonFiniteSkipped, file_skipped: m.fileNonFiniteSkipped };
          process.stdout.write(JSON.stringify(line) + '\n');
        },
      },
    );
  }

  const out = nodeFolder(outDir);
  const json = (x: object) => new TextEncoder().encode(JSON.stringify(x, null, 2));
  const { tokenizerJson, tokenizerConfig } = tokenizer.toFiles();
  if (codebook) await out.write(CODEBOOK_FILE, json(codebook));
  if (result?.lora && noMerge) {
    const tensors = await result.lora.toPeftTensors();
    await out.write('adapter_model.safetensors', writeSafetensors(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }])));
    await out.write('adapter_config.json', new TextEncoder().encode(JSON.stringify(result.lora.peftConfig(typeof partial.baseModel === 'string' ? partial.baseModel : modelDir), null, 2)));
    process.stderr.write(`wrote a PEFT adapter to ${outDir}\n`);
  } else {
    result?.lora?.merge();
    await saveModel(model, out, { tokenizerJson: json(tokenizerJson), tokenizerConfigJson: json(tokenizerConfig) });
    process.stderr.write(`wrote a Hugging Face folder to ${outDir}\n`);
  }
  return 0;
}
