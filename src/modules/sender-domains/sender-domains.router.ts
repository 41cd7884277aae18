import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import * as service from './sender-domains.service.ts';

/** Sender domains and their DKIM keys (extension): create, list, get, verify, rotate, delete. */
export function senderDomainsRouter(deps: AppDeps): Router {
  const router = Router();
  const lang = (h: string | string[] | undefined) => ({ lang: langFromHeader(h) });

  router.post('/domains', async (req, res) => {
    const created = await service.createSenderDomain(deps, req.projectId!, req.body, lang(req.headers['x-ncp-lang']));
    req.log.info({ domain: created.domain, selector: created.dkim.selector, algorithm: created.dkim.algorithm }, 'sender domain added');
    res.status(201).json(created);
  });
  router.get('/domains', async (req, res) => {
    res.json(await service.getSenderDomainList(deps, req.projectId!, req.query as RawQuery, lang(req.headers['x-ncp-lang'])));
  });
  router.get('/domains/:domain', async (req, res) => {
    res.json(await service.getSenderDomain(deps, req.projectId!, req.params.domain, lang(req.headers['x-ncp-lang'])));
  });
  router.post('/domains/:domain/verify', async (req, res) => {
    const checked = await service.verifySenderDomain(deps, req.projectId!, req.params.domain, lang(req.headers['x-ncp-lang']));
    req.log.info({ domain: checked.domain, status: checked.status.code }, 'sender domain checked');
    res.json(checked);
  });
  router.post('/domains/:domain/rotate', async (req, res) => {
    const rotated = await service.rotateSenderDomainKey(deps, req.projectId!, req.params.domain, req.body, lang(req.headers['x-ncp-lang']));
    req.log.info({ domain: rotated.domain, selector: rotated.dkim.selector }, 'sender domain key added (rotation)');
    res.status(201).json(rotated);
  });
  router.delete('/domains/:domain/keys/:selector', async (req, res) => {
    await service.deleteSenderDomainKey(deps, req.projectId!, req.params.domain, req.params.selector);
    res.status(204).end();
  });
  router.delete('/domains/:domain', async (req, res) => {
    await service.deleteSenderDomain(deps, req.projectId!, req.params.domain);
    res.status(204).end();
  });

  return router;
}
