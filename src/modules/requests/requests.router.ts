import { Router, type Request, type Response } from 'express';
import type { AppDeps } from '../../deps.ts';
import { badRequest } from '../../shared/errors.ts';
import { clientIp } from '../../http/client-ip.ts';
import { createMailRequest, hashBody } from './requests.service.ts';
import { cancelRequest, sendRequestNow } from './request-actions.service.ts';
import { getRequestRow } from '../mails/request-list.read-model.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import type { DeferredRecipientInputs, MailRequestInput, RecipientInput } from './validate-mail-request.ts';
import { API_SPEC_PATH } from '../../http/api-spec.ts';
import type { JsonElements } from '../../http/large-json.ts';
import { specElementCheck } from '../../http/spec-element-check.ts';
import { findUnstorableText } from '../../http/storable-text.ts';

declare global {
  namespace Express {
    interface Request {
      rawBody?: Buffer;
    }
  }
}

export function requestsRouter(deps: AppDeps): Router {
  const router = Router();

  /**
   * A large body's recipients, left as bytes by the body budget (http/large-json.ts): the
   * validator saw the body with none, so each is checked as it is parsed, as the validator and
   * refuseUnstorableText would have checked it: its syntax, its text, the spec's schema.
   */
  let checkRecipient: ((value: unknown, index: number) => void) | undefined;
  const checkedRecipients = (elements: JsonElements): DeferredRecipientInputs => ({
    length: elements.length,
    at(i) {
      let value: unknown;
      try {
        value = elements.at(i);
      } catch {
        throw badRequest('Malformed JSON body');
      }
      const unstorable = elements.mayHoldUnstorableText ? findUnstorableText(value, `recipients[${i}]`) : undefined;
      if (unstorable) throw badRequest(unstorable);
      checkRecipient ??= specElementCheck(API_SPEC_PATH, 'RecipientForRequest', '/body/recipients');
      checkRecipient(value, i);
      return value as RecipientInput;
    },
  });

  router.post('/mails', async (req, res) => {
    const key = req.get('Idempotency-Key') ?? null;
    if (key !== null && (key.length === 0 || key.length > 255)) throw badRequest('Idempotency-Key: 1 to 255 characters');
    const created = await createMailRequest(deps, {
      projectId: req.projectId!,
      body: (req.body ?? {}) as MailRequestInput,
      requesterIp: clientIp(req),
      idempotencyKey: key,
      bodyHash: key ? hashBody(req.rawBody, req.body) : '',
      deferredRecipients: req.deferredElements && checkedRecipients(req.deferredElements),
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
