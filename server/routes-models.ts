/**
 * Model, dataset and inference routes: the registry (list, register, upload, set_active, reload), eval
 * dataset uploads, and /v1/chat/completions and /generate.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HttpError, optStringArray, readJson, reqString } from './http.ts';
import { checkId } from './registry.ts';
import { handleChat, handleGenerate } from './chat.ts';
import { extractZip, receiveMultipart } from './upload.ts';
import { validateChatJsonl } from './datasets.ts';
import { json, type NodeContext, type Route } from './routes.ts';

export function modelRoutes(ctx: NodeContext): Route[] {
  const { dataDir, tmpDir, maxJson, maxModel, maxDataset, limits, engine, registry, host, log } = ctx;
  return [
    { method: 'GET', path: /^\/models$/, access: 'read', handler: async (_q, res) => json(res, { models: registry.listModels() }) },
    { method: 'GET', path: /^\/models\/active$/, access: 'read', handler: async (_q, res) => {
      const a = registry.activeModel();
      if (!a) throw new HttpError(404, 'No model is active.', 'not_found_error');
      json(res, a);
    } },
    { method: 'GET', path: /^\/models\/info$/, access: 'read', handler: async (_q, res) => json(res, host.modelInfo()) },
    { method: 'POST', path: /^\/models\/register$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const id = checkId(reqString(body, 'id'));
      const source = reqString(body, 'source');
      const tags = optStringArray(body, 'tags') ?? [];
      const path = resolve(source);
      if (!existsSync(path)) throw new HttpError(400, `Field "source": no folder at ${path} on the node.`, 'invalid_request_error', 'source');
      try {
        await engine.validateFolder(path);
      } catch (e) {
        throw new HttpError(400, `Field "source": ${path} is not a loadable model folder: ${(e as Error).message}`, 'invalid_request_error', 'source');
      }
      json(res, registry.putModel(id, path, source, tags));
    } },
    { method: 'POST', path: /^\/models\/upload$/, access: 'admin', handler: async (req, res) => {
      const form = await receiveMultipart(req, tmpDir, maxModel);
      const tmpFolder = join(tmpDir, `model-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      try {
        const id = checkId(form.fields.id ?? '', 'id');
        if (!form.filePath) throw new HttpError(400, 'Field "file" (the zipped model folder) is missing.', 'invalid_request_error', 'file');
        await extractZip(form.filePath, tmpFolder, 2 * maxModel);
        try {
          await engine.validateFolder(tmpFolder);
        } catch (e) {
          throw new HttpError(400, `The zip is not a valid model folder: ${(e as Error).message}`, 'invalid_request_error', 'file');
        }
        const dest = join(dataDir, 'models', id);
        rmSync(dest, { recursive: true, force: true });
        renameSync(tmpFolder, dest);
        const tags = (form.fields.tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
        log(`model ${id} uploaded (${form.bytes} bytes)`);
        const rec = registry.putModel(id, dest, form.fileName ? `upload:${form.fileName}` : 'upload', tags);
        // re-deploying the loaded model: answer with the new weights from now on
        if (host.modelInfo().model_id === id) await host.load(id);
        json(res, rec);
      } finally {
        if (form.filePath) rmSync(form.filePath, { force: true });
        rmSync(tmpFolder, { recursive: true, force: true });
      }
    } },
    { method: 'POST', path: /^\/models\/set_active$/, access: 'admin', handler: async (req, res) => {
      const body = await readJson(req, maxJson);
      const id = reqString(body, 'id');
      registry.requireModel(id);
      const info = await host.load(id);
      registry.setActive(id);
      json(res, { ...registry.requireModel(id), info });
    } },
    { method: 'POST', path: /^\/models\/reload$/, access: 'admin', handler: async (_q, res) => {
      const a = registry.activeModel();
      if (!a) throw new HttpError(409, 'No model is active to reload.', 'conflict_error');
      json(res, await host.load(a.id));
    } },
    { method: 'POST', path: /^\/v1\/chat\/completions$/, access: 'read', handler: (req, res) => handleChat(req, res, host, registry, limits) },
    { method: 'POST', path: /^\/generate$/, access: 'read', handler: (req, res) => handleGenerate(req, res, host, limits) },
    { method: 'POST', path: /^\/datasets$/, access: 'admin', handler: async (req, res) => {
      const form = await receiveMultipart(req, tmpDir, maxDataset);
      try {
        const id = checkId(form.fields.id ?? '', 'id');
        if (!form.filePath) throw new HttpError(400, 'Field "file" (a chat JSONL file) is missing.', 'invalid_request_error', 'file');
        const examples = await validateChatJsonl(form.filePath, form.fileName ?? id);
        const dest = join(dataDir, 'datasets', `${id}.jsonl`);
        renameSync(form.filePath, dest);
        json(res, registry.putDataset(id, dest, examples, form.bytes));
      } finally {
        if (form.filePath) rmSync(form.filePath, { force: true });
      }
    } },
    { method: 'GET', path: /^\/datasets$/, access: 'read', handler: async (_q, res) => json(res, { datasets: registry.listDatasets() }) },
  ];
}
