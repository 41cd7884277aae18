import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { deleteBlockedDomains, getBlockedDomainList, registerBlockedDomains } from './blocked-domains.service.ts';

/** registerBlockedDomains, deleteBlockedDomains, getBlockedDomainList (extension, under /api/v1, signed). */
export function blockedDomainsRouter(deps: AppDeps): Router {
  const router = Router();

  router.post('/blocked-domains', async (req, res) => {
    const result = await registerBlockedDomains(deps, req.projectId!, req.body);
    req.log.info(result, 'blocked domains registered');
    res.status(201).json(result);
  });

  router.delete('/blocked-domains', async (req, res) => {
    const result = await deleteBlockedDomains(deps, req.projectId!, req.body);
    req.log.info(result, 'blocked domains deleted');
    res.json(result);
  });

  router.get('/blocked-domains', async (req, res) => {
    res.json(await getBlockedDomainList(deps, req.projectId!, req.query as RawQuery));
  });

  return router;
}
