import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { AppDeps } from '../../deps.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { addListRoutes } from '../../http/list-routes.ts';
import { langFromAcceptLanguage, renderInvalidLinkPage, renderUnsubscribePage } from './unsubscribe-page.ts';
import {
  applyUnsubscribeAction,
  deleteUnsubscribers,
  getUnsubscribersList,
  registerUnsubscribers,
  unsubscribePageState,
  type PageState,
} from './unsubscribes.service.ts';

/** registerUnsubscribers, deleteUnsubscribers, getUnsubscribersList (under /api/v1, signed). */
export function unsubscribersRouter(deps: AppDeps): Router {
  const router = Router();

  addListRoutes(router, '/unsubscribers', 'unsubscribers', {
    register: (projectId, body) => registerUnsubscribers(deps, projectId, body),
    remove: (projectId, body) => deleteUnsubscribers(deps, projectId, body),
    list: (projectId, query) => getUnsubscribersList(deps, projectId, query),
  });

  return router;
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  // The token is in the URL: keep it out of caches, referrers and frames.
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Robots-Tag': 'noindex',
};

/**
 * The public unsubscribe page `/unsubscribe/{token}`, mounted at the root before signature auth
 * and the API validator: no signature, the token is the credential. GET only shows (link
 * scanners and prefetchers must not unsubscribe anyone); POST changes: a form with `action`, or
 * the RFC 8058 one-click body `List-Unsubscribe=One-Click` (any POST without `action` unsubscribes).
 */
export function unsubscribePageRouter(deps: AppDeps): Router {
  const router = Router();
  const since = (s: PageState) => (s.since ? toNesDateTime(s.since, deps.config.displayTimezone)!.formattedDateTime.slice(0, 16) : null);
  const langOf = (req: Request) => langFromAcceptLanguage(req.headers['accept-language']);
  const invalid = (req: Request, res: Response, status: number) =>
    res
      .status(status)
      .set(PAGE_HEADERS)
      .send(renderInvalidLinkPage(langOf(req)));

  router.get('/unsubscribe/:token', async (req, res) => {
    const state = await unsubscribePageState(deps, req.params.token);
    if (!state) return invalid(req, res, 404);
    res
      .status(200)
      .set(PAGE_HEADERS)
      .send(renderUnsubscribePage({ lang: langOf(req), address: state.address, unsubscribed: state.unsubscribed, since: since(state) }));
  });

  router.post('/unsubscribe/:token', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const action = body.action === undefined ? 'unsubscribe' : body.action;
    if (action !== 'unsubscribe' && action !== 'resubscribe') return invalid(req, res, 400);
    const state = await applyUnsubscribeAction(deps, req.params.token, action);
    if (!state) return invalid(req, res, 404);
    req.log.info({ action, oneClick: body['List-Unsubscribe'] === 'One-Click' }, 'unsubscribe page used');
    res
      .status(200)
      .set(PAGE_HEADERS)
      .send(renderUnsubscribePage({ lang: langOf(req), address: state.address, unsubscribed: state.unsubscribed, since: since(state), done: action }));
  });

  // A garbled path or body (bad percent-encoding, oversized form) gets the page, not the API's JSON.
  router.use('/unsubscribe', (err: { status?: number; statusCode?: number }, req: Request, res: Response, next: NextFunction) => {
    const status = err.status ?? err.statusCode ?? 500;
    if (status >= 400 && status < 500) return invalid(req, res, status === 413 ? 413 : 400);
    next(err);
  });

  return router;
}
