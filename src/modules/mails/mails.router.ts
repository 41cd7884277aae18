import express, { type Request } from 'express';
import type { AppDeps } from '../../deps.ts';
import { authenticationFailed } from '../../shared/errors.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { parseMailListQuery, parseRecipientListQuery, parseRequestListQuery } from './list-query.ts';
import type { ViewOptions } from './mails.mapper.ts';
import { getMail, getMailList } from './mails.read-model.ts';
import { getRecipientList } from './recipients.read-model.ts';
import { getMailRequestList } from './request-list.read-model.ts';
import { getMailRequestStatus } from './request-status.read-model.ts';

/** The NCP views: getMailRequestList, getMailRequestStatus, getMailList, getMail; and the recipient view (extension). */
export function mailsRouter(deps: AppDeps): express.Router {
  const router = express.Router();
  const { db, config } = deps;

  const projectOf = (req: Request): string => {
    if (!req.projectId) throw authenticationFailed();
    return req.projectId;
  };
  const viewOf = (req: Request): ViewOptions => ({
    lang: langFromHeader(req.headers['x-ncp-lang']),
    timeZone: config.displayTimezone,
  });
  const queryOf = (req: Request): RawQuery => req.query as RawQuery;

  // Before /mails/:mailId, which would otherwise take "requests" for an id.
  router.get('/mails/requests', async (req, res) => {
    const query = parseRequestListQuery(queryOf(req), { timeZone: config.displayTimezone, now: deps.now() });
    res.json(await getMailRequestList(db, projectOf(req), query, viewOf(req)));
  });

  router.get('/mails/recipients', async (req, res) => {
    const query = parseRecipientListQuery(queryOf(req), { timeZone: config.displayTimezone, now: deps.now() });
    res.json(await getRecipientList(db, projectOf(req), query, viewOf(req)));
  });

  router.get('/mails/requests/:requestId/status', async (req, res) => {
    res.json(await getMailRequestStatus(db, projectOf(req), req.params.requestId, viewOf(req)));
  });

  router.get('/mails/requests/:requestId/mails', async (req, res) => {
    const query = parseMailListQuery(queryOf(req), { timeZone: config.displayTimezone, now: deps.now() });
    res.json(await getMailList(db, projectOf(req), req.params.requestId, query, viewOf(req)));
  });

  router.get('/mails/:mailId', async (req, res) => {
    res.json(await getMail(db, projectOf(req), req.params.mailId, viewOf(req)));
  });

  return router;
}
