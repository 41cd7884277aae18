import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { createFiles, deleteFiles, getFiles } from './files.service.ts';

/** NCP's file operations: createFile, getFile, deleteFile. */
export function filesRouter(deps: AppDeps): Router {
  const router = Router();
  const filesDeps = { db: deps.db, dataDir: deps.config.dataDir, now: deps.now, maxStored: deps.config.maxStoredFiles };

  router.post('/files', async (req, res) => {
    const upload = await createFiles(filesDeps, req.projectId!, req);
    req.log.info({ tempRequestId: upload.tempRequestId, files: upload.files.length }, 'files uploaded');
    res.status(201).json(upload);
  });

  router.get('/files/:tempRequestId', async (req, res) => {
    res.json(await getFiles(deps.db, req.projectId!, req.params.tempRequestId));
  });

  router.delete('/files/:tempRequestId', async (req, res) => {
    const upload = await deleteFiles(filesDeps, req.projectId!, req.params.tempRequestId);
    req.log.info({ tempRequestId: upload.tempRequestId }, 'upload deleted');
    res.json(upload);
  });

  return router;
}
