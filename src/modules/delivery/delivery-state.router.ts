import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { getDeliveryDomainList } from './delivery-state.read-model.ts';

/** getDeliveryDomainList (extension). */
export function deliveryStateRouter(deps: AppDeps): Router {
  const router = Router();
  router.get('/delivery/domains', async (req, res) => {
    res.json(await getDeliveryDomainList(deps, req.query as RawQuery));
  });
  return router;
}
