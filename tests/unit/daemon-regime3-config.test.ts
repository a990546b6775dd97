import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { WorkbenchDb } from '../../src/store/db.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { TRAIN_CONFIG_FIELDS, defaultTrainConfig, diffConfigs, parseTrainConfig } from '../../src/engine/config/train-config.ts';
import { ConfigError } from '../../src/engine/errors.ts';
import { buildProfile, canonicalAnswers, codebookTokens, profileOptions, templateOf } from '../../src/daemon/codebook.ts';
import { flatten } from '../../src/daemon/config.ts';
import { buildCodebook } from '../../src/regime3/codebook.ts';
import { generateExample } from '../../src/regime3/tasks.ts';
import type { Regime3Profile } from '../../src/profiles/regime3.ts';
import { TokenizerCache } from '../../src/daemon/preview.ts';
import type { ModelRow } from '../../src/store/db.ts';
import { FIXTURE_VOCAB, tinyTokenizerConfig, tinyTokenizerJson } from './daemon-fixture.ts';

const answers = Array.from({ length: 40 }, (_, i) => generateExample('arith', 3, i).messages[1].content);
const codebook = buildCodebook(answers, { size: 32 });
const example = generateExample('arith', 3, 0);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('regime3 fields of the training config', () => {
  it('have defaults, ranges and descriptions in the schema, nested like lora.*', () => {
    const cfg = defaultTrainConfig('tiny');
    expect(cfg.regime3).toEqual({ mode: 'pure', plainRatio: 0.5, plainRatioStart: 1, plainRatioEnd: 0, transitionSteps: 1000, encodePrompt: false, codebookSize: 512 });
    const keys = TRAIN_CONFIG_FIELDS.filter((f) => f.key.startsWith('regime3.'));
    expect(keys.map((k) => k.key)).toEqual(['regime3.mode', 'regime3.plainRatio', 'regime3.plainRatioStart', 'regime3.plainRatioEnd', 'regime3.transitionSteps', 'regime3.encodePrompt', 'regime3.codebookSize']);
    for (const k of keys) expect(k.description.length).toBeGreaterThan(10);
    expect(flatten(cfg)['regime3.mode']).toBe('pure');
  });

  it('parses given values and rejects bad ones naming the field and the range', () => {
    const cfg = parseTrainConfig({ profile: 'regime3', regime3: { mode: 'transitional', plainRatioStart: 0.8, plainRatioEnd: 0.1, transitionSteps: 50, codebookSize: 64 } });
    expect(cfg.regime3).toMatchObject({ mode: 'transitional', plainRatioStart: 0.8, plainRatioEnd: 0.1, transitionSteps: 50, codebookSize: 64, plainRatio: 0.5 });
    expect(configError(() => parseTrainConfig({ regime3: { mode: 'half' } })).message).toMatch(/regime3\.mode.*pure, mixed, transitional/);
    expect(configError(() => parseTrainConfig({ regime3: { plainRatio: 1.5 } })).field).toBe('regime3.plainRatio');
    expect(configError(() => parseTrainConfig({ regime3: { transitionSteps: 0 } })).field).toBe('regime3.transitionSteps');
    expect(configError(() => parseTrainConfig({ regime3: { codebookSize: 1 } })).message).toMatch(/\[2, 100000\]/);
    expect(configError(() => parseTrainConfig({ regime3: { size: 4 } })).field).toBe('regime3.size');
    expect(configError(() => parseTrainConfig({ regime3: 3 })).field).toBe('regime3');
    expect(diffConfigs(defaultTrainConfig(), parseTrainConfig({ regime3: { encodePrompt: true } }))).toEqual([{ key: 'regime3.encodePrompt', from: false, to: true, locked: false }]);
  });
});

describe('profiles built from the config', () => {
  it('regime3 gets the config\'s data mode with the model codebook; without a codebook it says when one is made', () => {
    const mixed = parseTrainConfig({ profile: 'regime3', seed: 9, regime3: { mode: 'mixed', plainRatio: 1 } });
    expect(profileOptions(mixed, codebook).regime3).toMatchObject({ mode: 'mixed', plainRatio: 1, codebook });
    const allPlain = buildProfile(mixed, codebook) as Regime3Profile;
    expect(allPlain.transform(example, 0).at(-1)!.content).toBe(example.messages[1].content);
    const pure = buildProfile(parseTrainConfig({ profile: 'regime3' }), codebook) as Regime3Profile;
    expect(pure.transform(example, 0).at(-1)!.content).toMatch(/^<<ANS_START>> <E\d+>/);
    const trans = buildProfile(parseTrainConfig({ profile: 'regime3', regime3: { mode: 'transitional', plainRatioStart: 1, plainRatioEnd: 0, transitionSteps: 10 } }), codebook) as Regime3Profile;
    expect([trans.plainRatioAt(0), trans.plainRatioAt(5), trans.plainRatioAt(20)]).toEqual([1, 0.5, 0]);
    const enc = buildProfile(parseTrainConfig({ profile: 'regime3', regime3: { encodePrompt: true } }), codebook);
    const withExpr = { messages: [{ role: 'user' as const, content: 'Evaluate (add 1 2).' }, { role: 'assistant' as const, content: '3' }] };
    expect(enc.transform(withExpr, 0).find((m) => m.role === 'user')!.content).toMatch(/^Evaluate <E\d+>/);
    expect(configError(() => buildProfile(parseTrainConfig({ profile: 'regime3' }))).message).toMatch(/built from the first regime3 file/);
    expect(buildProfile(parseTrainConfig({ profile: 'emoji_think' })).name).toBe('emoji_think');
  });

  it('codebook tokens come in a fixed order (codes, literal markers, byte codes, answer markers); templates without building', () => {
    const t = codebookTokens(codebook);
    expect(t.slice(0, codebook.size)).toEqual(codebook.entries.map((e) => e.code));
    expect(t.slice(-2)).toEqual(['<<ANS_START>>', '<<ANS_END>>']);
    expect(t.length).toBe(codebook.size + 2 + 256 + 2);
    expect(codebookTokens(undefined)).toEqual([]);
    expect(templateOf('regime3')).toBe('chatml');
    expect(templateOf('plain_sft')).toBe('stock');
    expect(() => templateOf('nope')).toThrow(/unknown profile "nope"; expected one of: plain_sft, emoji_think, regime3/);
  });

  it('canonical answers of a file: normalized, streamed; a non-canonical answer names its line', async () => {
    const lines = [JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '(add  +1 2.50)' }] }), '', JSON.stringify({ prompt: 'p', response: '(x "é")' })];
    expect(await canonicalAnswers(new Blob([lines.join('\n')]), 'f.jsonl')).toEqual(['(add 1 2.5)', '(x "é")']);
    const bad = [lines[0], JSON.stringify({ prompt: 'p', response: '(open' })].join('\n');
    await expect(canonicalAnswers(new Blob([bad]), 'bad.jsonl')).rejects.toThrow(/bad\.jsonl:2: the assistant answer is not a canonical S-expression/);
  });
});

describe('updateTrainConfig', () => {
  it('accepts regime3 fields as dotted keys and refuses an unknown profile name, listing the known ones', async () => {
    const db = new WorkbenchDb(`cfg-regime3-${Date.now()}`);
    const ok = await updateTrainConfig(db, { profile: 'regime3', 'regime3.mode': 'mixed', 'regime3.plainRatio': 0.25 });
    expect(ok.errors).toEqual([]);
    expect(ok.config.regime3).toMatchObject({ mode: 'mixed', plainRatio: 0.25 });
    const bad = await updateTrainConfig(db, { profile: 'regime-3' });
    expect(bad.ok).toBe(false);
    expect(bad.errors).toEqual([{ field: 'profile', message: 'unknown profile "regime-3"; expected one of: plain_sft, emoji_think, regime3' }]);
    expect((await updateTrainConfig(db, { 'regime3.plainRatio': 2 })).errors[0].field).toBe('regime3.plainRatio');
    await db.delete();
  });
});

describe('TokenizerCache', () => {
  it('loads a folder once, adds the model\'s codebook tokens, keeps provisional ones apart, keeps two', async () => {
    let reads = 0;
    const files: Record<string, object> = { 'tokenizer.json': tinyTokenizerJson(), 'tokenizer_config.json': tinyTokenizerConfig() };
    const cache = new TokenizerCache(() => ({
      async read(name) {
        reads++;
        return files[name] ? new TextEncoder().encode(JSON.stringify(files[name])) : null;
      },
    }));
    const plain = { id: 'm', tokenizerRef: 'ref' } as ModelRow;
    const a = await cache.get(plain, 'fallback');
    expect(await cache.get(plain, 'fallback')).toBe(a);
    expect(reads).toBe(2);
    expect(a.vocabSize).toBe(FIXTURE_VOCAB);
    const withBook = await cache.get({ ...plain, codebook }, 'fallback');
    expect(withBook.tokenToId(codebook.entries[0].code)).toBe(FIXTURE_VOCAB);
    expect(withBook.vocabSize).toBe(FIXTURE_VOCAB + codebookTokens(codebook).length);
    const prov = await cache.get(plain, 'fallback', codebook);
    expect(prov).not.toBe(a);
    expect(a.vocabSize).toBe(FIXTURE_VOCAB); // the model's own tokenizer never gains provisional codes
    expect(reads).toBe(6);
    await cache.get(plain, 'fallback'); // evicted (two kept): loaded again
    expect(reads).toBe(8);
  });
});
