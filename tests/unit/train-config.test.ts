// The TrainConfig schema: defaults, presets, ranges, unknown keys and locked fields, diffs.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/engine/errors.ts';
import { TRAIN_CONFIG_FIELDS, defaultTrainConfig, diffConfigs, parseTrainConfig, sampleInterval } from '../../src/engine/config/train-config.ts';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('TrainConfig schema', () => {
  it('fills defaults; presets override them', () => {
    const c = parseTrainConfig({});
    expect([c.checkpointEveryMinutes, c.retentionMinAgeHours, c.retentionDailyDays, c.retentionBudgetGB, c.retentionQuotaShare]).toEqual([5, 36, 7, 0, 0.5]);
    expect(c.valFraction).toBe(0.05);
    expect(c.valMax).toBe(100);
    expect(c.schedule).toBe('constant');
    expect(c.sampleTimeLimitMs).toBe(10000);
    const q = parseTrainConfig({}, 'qwen3-0.6b');
    expect([q.batchSize, q.gradAccumSteps, q.learningRate, q.warmupSteps, q.maxLength, q.saveSteps]).toEqual([1, 16, 2e-4, 100, 2048, 1000]);
    expect(q.checkpointEveryMinutes).toBe(60); // a ~7 GB write: hourly
    expect(parseTrainConfig({ learningRate: 1e-4 }, 'tiny').learningRate).toBe(1e-4);
  });

  it('rejects out-of-range values naming the field and the range', () => {
    const e = configError(() => parseTrainConfig({ gradAccumSteps: 129 }));
    expect(e.field).toBe('gradAccumSteps');
    expect(e.message).toMatch(/gradAccumSteps.*\[1, 128\].*129/);
    expect(configError(() => parseTrainConfig({ learningRate: 0.1 })).field).toBe('learningRate');
    expect(configError(() => parseTrainConfig({ batchSize: 2.5 })).message).toMatch(/integer/);
    expect(configError(() => parseTrainConfig({ maxLength: 8 })).field).toBe('maxLength');
    expect(configError(() => parseTrainConfig({ schedule: 'step' })).message).toMatch(/constant, linear, cosine/);
    expect(configError(() => parseTrainConfig({ pack: 'yes' })).field).toBe('pack');
    expect(configError(() => parseTrainConfig({ lora: { rank: 0 } })).field).toBe('lora.rank');
    expect(configError(() => parseTrainConfig({ lora: { targetModules: ['qproj'] } })).field).toBe('lora.targetModules');
    expect(configError(() => parseTrainConfig({ maxLength: 4096, maxContext: 2048 })).field).toBe('maxLength');
    expect(configError(() => parseTrainConfig([])).field).toBe('(root)');
  });

  it('rejects unknown keys, also nested ones', () => {
    expect(configError(() => parseTrainConfig({ learning_rate: 1e-3 })).field).toBe('learning_rate');
    expect(configError(() => parseTrainConfig({ lora: { r: 4 } })).field).toBe('lora.r');
  });

  it('metadata: every field typed with default, range or options; locked fields flagged', () => {
    const locked = TRAIN_CONFIG_FIELDS.filter((m) => m.locked).map((m) => m.key);
    expect(locked).toEqual(['baseModel', 'architecture', 'maxContext']);
    for (const m of TRAIN_CONFIG_FIELDS) {
      expect(m.description.length).toBeGreaterThan(3);
      if (m.type === 'int' || m.type === 'float') expect(m.min).toBeLessThanOrEqual(m.max!);
      if (m.type === 'enum') expect(m.options).toContain(m.default);
    }
    // the defaults themselves pass the schema
    expect(parseTrainConfig(JSON.parse(JSON.stringify(defaultTrainConfig('small'))), 'small')).toEqual(defaultTrainConfig('small'));
  });

  it('diffs two configs field by field', () => {
    const a = parseTrainConfig({});
    const b = parseTrainConfig({ learningRate: 1e-3, lora: { enabled: true }, baseModel: 'other' });
    expect(diffConfigs(a, b)).toEqual([
      { key: 'baseModel', from: 'qwen3-tiny', to: 'other', locked: true },
      { key: 'learningRate', from: 3e-4, to: 1e-3, locked: false },
      { key: 'lora.enabled', from: false, to: true, locked: false },
    ]);
    expect(diffConfigs(a, a)).toEqual([]);
  });

  it('sample interval defaults to max(10, evalSteps / 10)', () => {
    expect(sampleInterval(parseTrainConfig({ evalSteps: 500 }))).toBe(50);
    expect(sampleInterval(parseTrainConfig({ evalSteps: 50 }))).toBe(10);
    expect(sampleInterval(parseTrainConfig({ sampleEvery: 7 }))).toBe(7);
  });
});
