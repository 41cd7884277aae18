import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { parsePaging } from '../../http/paging.ts';
import type { RawQuery } from '../../http/query-params.ts';
import type { WebhookCreate, WebhookUpdate } from './webhooks.mapper.ts';
import { createWebhook, deleteWebhook, getWebhook, getWebhookDeliveryList, getWebhookList, retryWebhookDelivery, updateWebhook } from './webhooks.service.ts';

/** Extension: webhook endpoints, their delivery log and replays. */
export function webhooksRouter(deps: AppDeps): Router {
  const router = Router();

  router.post('/webhooks', async (req, res) => {
    const created = await createWebhook(deps, deps.resolveKey.box, req.projectId!, req.body as WebhookCreate);
    // The URL may carry a token of the receiver's: not logged.
    req.log.info({ webhookId: created.webhookId, events: created.events }, 'webhook created');
    res.status(201).json(created);
  });

  router.get('/webhooks', async (req, res) => {
    res.json(await getWebhookList(deps, req.projectId!, parsePaging(req.query as RawQuery)));
  });

  router.get('/webhooks/:webhookId', async (req, res) => {
    res.json(await getWebhook(deps, req.projectId!, req.params.webhookId));
  });

  router.put('/webhooks/:webhookId', async (req, res) => {
    res.json(await updateWebhook(deps, req.projectId!, req.params.webhookId, req.body as WebhookUpdate));
  });

  router.delete('/webhooks/:webhookId', async (req, res) => {
    await deleteWebhook(deps, req.projectId!, req.params.webhookId);
    res.status(204).end();
  });

  router.get('/webhooks/:webhookId/deliveries', async (req, res) => {
    res.json(await getWebhookDeliveryList(deps, req.projectId!, req.params.webhookId, parsePaging(req.query as RawQuery)));
  });

  router.post('/webhooks/:webhookId/deliveries/:deliveryId/retry', async (req, res) => {
    res.status(202).json(await retryWebhookDelivery(deps, req.projectId!, req.params.webhookId, req.params.deliveryId));
  });

  return router;
}
