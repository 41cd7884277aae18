import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { createConfig, getConfig, getSendBlockList, type ConfigInput } from './send-block.service.ts';

/** getSendBlockList, createConfig, getConfig. */
export function sendBlockRouter(deps: AppDeps): Router {
  const router = Router();

  router.get('/send-block', async (req, res) => {
    res.json(await getSendBlockList(deps, req.projectId!, req.query as RawQuery, langFromHeader(req.headers['x-ncp-lang'])));
  });

  router.post('/config', async (req, res) => {
    const config = await createConfig(deps, req.projectId!, (req.body ?? {}) as ConfigInput);
    req.log.info({ type: config.type, value: config.value }, 'project setting changed');
    res.json(config);
  });

  router.get('/config', async (req, res) => {
    res.json(await getConfig(deps, req.projectId!, req.query as RawQuery));
  });

  return router;
}
