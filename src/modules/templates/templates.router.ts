import { Router, type Request } from 'express';
import type { AppDeps } from '../../deps.ts';
import { fileParts } from '../../http/multipart.ts';
import { sendStream } from '../../http/send-stream.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import { parsePaging, parseSort } from '../../http/paging.ts';
import type { RawQuery } from '../../http/query-params.ts';
import type { CategoryCreate, CategoryUpdate, TemplateCreate, TemplateLocation, TemplateUpdate } from './templates.mapper.ts';
import { BACKUP_SORT_PROPERTIES, DEFAULT_BACKUP_SORT, getTemplate, getTemplateBackupList, getTemplateStructure } from './templates.read-model.ts';
import { createCategory, deleteCategory, updateCategory } from './categories.service.ts';
import { openTemplateBackup, requestTemplateBackup } from './template-backups.service.ts';
import { importTemplates } from './template-import.service.ts';
import { createTemplate, deleteTemplate, restoreTemplate, updateTemplate, updateTemplateLocationOrName } from './templates.service.ts';

/** NCP's template and category operations, backups included. */
export function templatesRouter(deps: AppDeps): Router {
  const router = Router();
  const tz = deps.config.displayTimezone;
  const body = <T>(req: Request) => (req.body ?? {}) as T;

  router.get('/template', async (req, res) => {
    const isUse = req.query.isUse as unknown;
    res.json(await getTemplateStructure(deps.db, req.projectId!, isUse === true || isUse === 'true', tz));
  });

  router.post('/template', async (req, res) => {
    const template = await createTemplate(deps, req.projectId!, body<TemplateCreate>(req));
    req.log.info({ templateSid: template.sid }, 'template created');
    res.status(201).json(template);
  });

  // The backup routes first: "export" and "import" are not template sids. NCP calls a backup an
  // export: createTemplateExportRequest, getTemplateExportRequestList, exportTemplate.
  router.post('/template/export/request', async (req, res) => {
    const created = await requestTemplateBackup(deps, req.projectId!);
    req.log.info({ backupSid: created.sid }, 'template backup requested');
    res.json(created);
  });

  router.get('/template/export', async (req, res) => {
    const query = req.query as RawQuery;
    const q = { paging: parsePaging(query), sort: parseSort(query.sort, BACKUP_SORT_PROPERTIES, DEFAULT_BACKUP_SORT) };
    const view = { lang: langFromHeader(req.headers['x-ncp-lang']), timeZone: tz, publicBaseUrl: deps.config.publicBaseUrl, now: deps.now() };
    res.json(await getTemplateBackupList(deps.db, req.projectId!, q, view));
  });

  router.get('/template/export/:requestId', async (req, res) => {
    const file = await openTemplateBackup(deps, req.projectId!, req.params.requestId);
    res.set({
      'Content-Type': 'application/octet-stream;charset=UTF-8',
      'Content-Disposition': `attachment; filename="${file.fileName}";`,
      'Content-Transfer-Encoding': 'binary',
    });
    await sendStream(res, file.stream);
  });

  router.post('/template/import', async (req, res) => {
    const limit = deps.config.maxBodyBytes;
    const structure = await importTemplates(
      deps,
      req.projectId!,
      fileParts(req, { fileBytes: limit, files: 1, field: 'file', totalBytes: limit + 1024 * 1024 }),
    );
    req.log.info('templates imported');
    res.status(201).json(structure);
  });

  router.get('/template/:templateSid', async (req, res) => {
    res.json(await getTemplate(deps.db, req.projectId!, req.params.templateSid, tz));
  });

  router.put('/template/:templateSid', async (req, res) => {
    res.json(await updateTemplate(deps, req.projectId!, req.params.templateSid, body<TemplateUpdate>(req)));
  });

  router.delete('/template/:templateSid', async (req, res) => {
    const template = await deleteTemplate(deps, req.projectId!, req.params.templateSid);
    req.log.info({ templateSid: template.sid }, 'template deleted (isUse false)');
    res.json(template);
  });

  router.put('/template/:templateSid/name-location', async (req, res) => {
    res.json(await updateTemplateLocationOrName(deps, req.projectId!, req.params.templateSid, body<TemplateLocation>(req)));
  });

  router.put('/template/:templateSid/restoration', async (req, res) => {
    res.json(await restoreTemplate(deps, req.projectId!, req.params.templateSid));
  });

  router.post('/category', async (req, res) => {
    const category = await createCategory(deps, req.projectId!, body<CategoryCreate>(req));
    req.log.info({ categorySid: category.sid }, 'category created');
    res.status(201).json(category);
  });

  router.put('/category/:categorySid/name-location', async (req, res) => {
    res.json(await updateCategory(deps, req.projectId!, req.params.categorySid, body<CategoryUpdate>(req)));
  });

  router.delete('/category/:categorySid', async (req, res) => {
    const category = await deleteCategory(deps, req.projectId!, req.params.categorySid);
    req.log.info({ categorySid: category.sid }, 'category deleted');
    res.json(category);
  });

  return router;
}
