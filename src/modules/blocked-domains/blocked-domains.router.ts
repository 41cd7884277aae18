import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { addListRoutes } from '../../http/list-routes.ts';
import { deleteBlockedDomains, getBlockedDomainList, registerBlockedDomains } from './blocked-domains.service.ts';

/** registerBlockedDomains, deleteBlockedDomains, getBlockedDomainList (extension, under /api/v1, signed). */
export function blockedDomainsRouter(deps: AppDeps): Router {
  const router = Router();

  addListRoutes(router, '/blocked-domains', 'blocked domains', {
    register: (projectId, body) => registerBlockedDomains(deps, projectId, body),
    remove: (projectId, body) => deleteBlockedDomains(deps, projectId, body),
    list: (projectId, query) => getBlockedDomainList(deps, projectId, query),
  });

  return router;
}
