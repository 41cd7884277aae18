import { Router, type Request, type Response } from 'express';
import type { AppDeps } from '../../deps.ts';
import { badRequest } from '../../shared/errors.ts';
import { clientIp } from '../../http/client-ip.ts';
import { createMailRequest, hashBody } from './requests.service.ts';
import { cancelRequest, sendRequestNow } from './request-actions.service.ts';
import { getRequestRow } from '../mails/request-list.read-model.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import type { DeferredRecipientInputs, MailRequestInput } from './validate-mail-request.ts';

declare global {
  namespace Express {
    interface Request {
      rawBody?: Buffer;
    }
  }
}

export function requestsRouter(deps: AppDeps): Router {
  const router = Router();

  router.post('/mails', async (req, res) => {
    const key = req.get('Idempotency-Key') ?? null;
    if (key !== null && (key.length === 0 || key.length > 255)) throw badRequest('Idempotency-Key: 1 to 255 characters');
    const created = await createMailRequest(deps, {
      projectId: req.projectId!,
      body: (req.body ?? {}) as MailRequestInput,
      requesterIp: clientIp(req),
      idempotencyKey: key,
      bodyHash: key ? hashBody(req.rawBody, req.body) : '',
      // checked as the validator would have checked them (http/body-budget.ts)
      deferredRecipients: req.deferredElements as DeferredRecipientInputs | undefined,
      dispatchType: req.consoleSession ? 'CONSOLE' : 'API',
    });
    req.log.info({ requestId: created.requestId, count: created.count }, 'mail request created');
    res.status(201).json(created);
  });

  // send-now and cancel change a request's state and answer with its getMailRequestList row.
  const requestAction = (action: typeof sendRequestNow, logLine: string) => async (req: Request<{ requestId: string }>, res: Response) => {
    await action(deps, req.projectId!, req.params.requestId);
    req.log.info({ requestId: req.params.requestId }, logLine);
    res.json(await getRequestRow(deps.db, req.projectId!, req.params.requestId, langFromHeader(req.headers['x-ncp-lang']), deps.config.displayTimezone));
  };
  router.post('/mails/requests/:requestId/send', requestAction(sendRequestNow, 'request sent now'));
  router.post('/mails/requests/:requestId/cancel', requestAction(cancelRequest, 'request cancelled'));

  return router;
}
