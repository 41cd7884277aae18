import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { sendStream } from '../../http/send-stream.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import { parsePaging } from '../../http/paging.ts';
import type { RawQuery } from '../../http/query-params.ts';
import type { ExportCreate } from './exports.mapper.ts';
import { getExportList } from './exports.read-model.ts';
import { createExport, openExportFile } from './exports.service.ts';

/** Extension: createExport, getExportList, downloadExport. */
export function exportsRouter(deps: AppDeps): Router {
  const router = Router();

  router.post('/exports', async (req, res) => {
    const created = await createExport(deps, req.projectId!, req.body as ExportCreate, langFromHeader(req.headers['x-ncp-lang']));
    req.log.info({ exportId: created.exportId, view: created.view }, 'export requested');
    res.status(202).json(created);
  });

  router.get('/exports', async (req, res) => {
    const view = {
      lang: langFromHeader(req.headers['x-ncp-lang']),
      timeZone: deps.config.displayTimezone,
      publicBaseUrl: deps.config.publicBaseUrl,
      now: deps.now(),
    };
    res.json(await getExportList(deps.db, req.projectId!, parsePaging(req.query as RawQuery), view));
  });

  router.get('/exports/:exportId/file', async (req, res) => {
    const file = await openExportFile(deps, req.projectId!, req.params.exportId);
    res.set({
      'Content-Type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'Content-Length': String(file.size),
      'Content-Disposition': `attachment; filename="${file.fileName}"`,
      'X-Content-Type-Options': 'nosniff',
    });
    await sendStream(res, file.stream);
  });

  return router;
}
