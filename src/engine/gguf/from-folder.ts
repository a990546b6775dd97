/**
 * A Hugging Face model folder (config.json, safetensors, tokenizer files) as a streamed Qwen3 GGUF file: the
 * weights are read one tensor at a time through the FolderReader (Node's disk or the browser's Blobs) and leave as
 * pieces of the file; the Ollama Modelfile that goes beside it. Used by the export-gguf command.
 */
import { CheckpointError } from '../errors.ts';
import { checkWeights, readModelConfig, readWeightFiles, streamWeights, type FolderReader } from '../checkpoint.ts';
import { parameterShapes } from '../model.ts';
import { qwen3Gguf, type GgufFileType } from './qwen3-gguf.ts';
import type { GgufTensorPlan } from './writer.ts';

async function readJson(folder: FolderReader, file: string): Promise<object> {
  const bytes = await folder.read(file);
  if (!bytes) throw new CheckpointError(`the model folder has no ${file} (a GGUF file carries the tokenizer)`, file);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as object;
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message})`, file);
  }
}

/** The folder's model as GGUF pieces of `type`; everything is checked (config, tensor shapes, tokenizer) before the first piece. */
export async function ggufFromFolder(folder: FolderReader, type: GgufFileType, name: string): Promise<{ pieces: AsyncGenerator<Uint8Array>; tensors: GgufTensorPlan[] }> {
  if (!(await folder.read('config.json')) && (await folder.read('adapter_config.json'))) {
    throw new CheckpointError('the folder holds a LoRA adapter, not a model: export the merged model (train without --no-merge) and convert that', 'adapter_config.json');
  }
  const config = await readModelConfig(folder);
  const files = await readWeightFiles(folder);
  checkWeights(files, config);
  const tokenizerJson = await readJson(folder, 'tokenizer.json');
  const tokenizerConfig = await readJson(folder, 'tokenizer_config.json');
  const shapes = parameterShapes(config);
  const order: [string, number[]][] = [];
  for (const f of files) for (const e of f.header.entries) if (f.takes(e.name) && shapes.has(e.name)) order.push([e.name, e.shape]);
  return qwen3Gguf({ config, tokenizerJson, tokenizerConfig, order, weights: streamWeights(files, (n) => shapes.has(n)), type, name });
}
