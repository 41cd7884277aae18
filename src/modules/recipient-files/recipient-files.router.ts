import { Router, type Request } from 'express';
import type { AppDeps } from '../../deps.ts';
import { fileParts } from '../../http/multipart.ts';
import { createRecipientFile, formTags, recipientFileForm } from './recipient-files.service.ts';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** Bulk recipient files (extension): the .xlsx input form and the upload. */
export function recipientFilesRouter(deps: AppDeps): Router {
  const router = Router();

  const maxBytes = deps.config.maxBodyBytes;
  // Up to 5 parts are read, so that a second file is refused as "one file per upload".
  const upload = (req: Request) => fileParts(req, { fileBytes: maxBytes, files: 5, field: 'file', totalBytes: maxBytes + 1024 * 1024 });

  router.get('/recipient-files/form', async (req, res) => {
    const form = await recipientFileForm(formTags(req.query.tags));
    res.set({ 'Content-Type': XLSX_TYPE, 'Content-Disposition': 'attachment; filename="recipients.xlsx"' });
    res.send(form);
  });

  router.post('/recipient-files', async (req, res) => {
    const file = await createRecipientFile({ ...deps, logger: req.log }, req.projectId!, upload(req));
    res.status(201).json(file);
  });

  return router;
}
