import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { createAccessKey, listAccessKeys, revokeAccessKey } from './access-keys.service.ts';

/** getAccessKeyList, createAccessKey, revokeAccessKey (extension): the calling project's keys. */
export function accessKeysRouter(deps: AppDeps): Router {
  const router = Router();

  router.get('/access-keys', async (req, res) => {
    res.json(await listAccessKeys(deps, req.projectId!, req.accessKey!));
  });

  router.post('/access-keys', async (req, res) => {
    const key = await createAccessKey(deps, req.projectId!, req.accessKey!);
    // Never the secret in the log.
    req.log.info({ accessKey: key.accessKey }, 'access key created');
    res.status(201).json(key);
  });

  router.delete('/access-keys/:accessKey', async (req, res) => {
    const key = await revokeAccessKey(deps, req.projectId!, req.accessKey!, req.params.accessKey);
    req.log.info({ accessKey: key.accessKey }, 'access key revoked');
    res.json(key);
  });

  return router;
}
