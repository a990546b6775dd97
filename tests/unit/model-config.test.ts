// ModelConfig from config.json: real Hub keys ignored, unsupported values named, presets, round trip.
import { describe, expect, it } from 'vitest';
import { parseModelConfig, toHfConfig, presetConfig, presetNames, presets } from '../../src/engine/config/model-config.ts';
import { ConfigError } from '../../src/engine/errors.ts';

// Qwen3-0.6B's config.json as published on the Hub.
const qwen06 = {
  architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645,
  head_dim: 128, hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02, intermediate_size: 3072, max_position_embeddings: 40960,
  max_window_layers: 28, model_type: 'qwen3', num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6,
  rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16',
  transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
};

function expectField(raw: unknown, field: string) {
  let err: unknown;
  try {
    parseModelConfig(raw);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a ConfigError for ${field}`).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).field).toBe(field);
  expect((err as Error).message).toContain(field);
}

describe('model config', () => {
  it('reads the Hub config of Qwen3-0.6B and equals the qwen3-0.6b preset', () => {
    expect(parseModelConfig(qwen06)).toEqual(presetConfig('qwen3-0.6b'));
  });

  it('round-trips every preset through toHfConfig', () => {
    expect(presetNames).toEqual(['tiny', 'small', 'qwen3-0.6b']);
    for (const name of presetNames) {
      const hf = toHfConfig(presets[name]);
      expect(hf).toMatchObject({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', vocab_size: 151936, eos_token_id: 151645 });
      expect(parseModelConfig(JSON.parse(JSON.stringify(hf)))).toEqual(presets[name]);
    }
    expect(presetConfig('tiny')).toMatchObject({ numHiddenLayers: 2, hiddenSize: 64, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, intermediateSize: 192 });
    expect(presetConfig('small')).toMatchObject({ numHiddenLayers: 4, hiddenSize: 256, numAttentionHeads: 8, numKeyValueHeads: 4, headDim: 32, intermediateSize: 768 });
    expect(() => presetConfig('huge')).toThrow(/expected one of: tiny, small, qwen3-0.6b/);
  });

  it('ignores unknown keys; head_dim defaults to 128 as in transformers, whatever hidden / heads is', () => {
    const c = parseModelConfig({ ...qwen06, head_dim: undefined, hidden_size: 512, some_future_key: { a: 1 } });
    expect(c.headDim).toBe(128);
  });

  it('names the field of every value it cannot honour', () => {
    expectField({ ...qwen06, rope_scaling: { type: 'yarn', factor: 4 } }, 'rope_scaling');
    expectField({ ...qwen06, attention_bias: true }, 'attention_bias');
    expectField({ ...qwen06, use_sliding_window: true }, 'use_sliding_window');
    expectField({ ...qwen06, model_type: 'llama' }, 'model_type');
    expectField({ ...qwen06, head_dim: 7 }, 'head_dim');
    expectField({ ...qwen06, num_key_value_heads: 5 }, 'num_key_value_heads');
    expectField({ ...qwen06, hidden_size: 0 }, 'hidden_size');
    expectField({ ...qwen06, vocab_size: -3 }, 'vocab_size');
    expectField({ ...qwen06, intermediate_size: 1.5 }, 'intermediate_size');
    expectField({ ...qwen06, num_hidden_layers: '28' }, 'num_hidden_layers');
    expectField({ ...qwen06, rms_norm_eps: 0 }, 'rms_norm_eps');
    expectField({ ...qwen06, hidden_act: 'gelu' }, 'hidden_act');
    expectField({ ...qwen06, torch_dtype: 'int8' }, 'torch_dtype');
    expectField([], 'config.json');
  });
});
