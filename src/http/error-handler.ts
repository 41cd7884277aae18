import type { NextFunction, Request, Response } from 'express';
import { localiseErrorMessage } from '../shared/error-messages.ts';
import { langFromHeader } from '../shared/i18n.ts';
import {
  AppError,
  RateLimitedError,
  UnavailableError,
  badRequest,
  entityTooLarge,
  internalError,
  methodNotAllowed,
  routeNotFound,
  unsupportedMediaType,
} from '../shared/errors.ts';

interface ValidatorErrorItem {
  path?: string;
  message?: string;
  errorCode?: string;
}

/** express-openapi-validator reports "/body/recipients/0/address"; clients know "recipients[0].address". */
function fieldName(path: string | undefined): string {
  if (!path) return 'request';
  return (
    path
      .replace(/^\/?(body|query|params|headers|path)\/?/, '')
      .replace(/^\.?(body|query|params|headers|path)\./, '')
      .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
      .replace(/\//g, '.')
      .replace(/^\./, '') || 'body'
  );
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; errors?: ValidatorErrorItem[]; message?: string };
  const status = e.status ?? e.statusCode;
  if (e.type === 'entity.too.large' || status === 413) return entityTooLarge();
  if (e.type === 'entity.parse.failed') return badRequest('Malformed JSON body');
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return unsupportedMediaType(e.message);
  if (status === 404) return routeNotFound();
  if (status === 405) return methodNotAllowed();
  if (status === 415) return unsupportedMediaType();
  if (status === 400 && Array.isArray(e.errors)) {
    const message = e.errors.map((item) => `${fieldName(item.path)}: ${item.message ?? 'invalid'}`).join('; ');
    return badRequest(message);
  }
  if (status === 400) return badRequest(e.message ?? 'Bad request');
  if (isDatabaseUnavailable(err)) return new UnavailableError();
  return internalError();
}

/** PostgreSQL codes of a server that is going away, starting, or out of connections. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006']);

/**
 * The pool waited CONNECTION_TIMEOUT for a connection, or the server is down, restarting or
 * full: a client can try again (503), unlike a fault of ours (500).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && (UNAVAILABLE_SQLSTATES.has(e.code) || e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET')) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /^timeout exceeded when trying to connect$|^Connection terminated( unexpectedly| due to connection timeout)?$/.test(message);
}

/** The one place that turns errors into NCP bodies. */
export function errorHandler() {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const app = toAppError(err);
    if (app instanceof UnavailableError) req.log?.warn({ err: (err as Error).message }, 'database unavailable; answered 503');
    else if (app.status >= 500) req.log?.error({ err }, 'unhandled error');
    else req.log?.debug({ code: app.code, message: app.message }, 'request refused');
    if (res.headersSent) return res.end();
    if (app instanceof RateLimitedError || app instanceof UnavailableError) res.set('Retry-After', String(app.retryAfterSeconds));
    // Gateway errors answer in English, as NCP's gateway does; service errors follow x-ncp-lang.
    const message = app.gateway ? app.message : localiseErrorMessage(app.message, langFromHeader(req.headers['x-ncp-lang']));
    const body = app.gateway ? { error: { errorCode: app.code, message } } : { error: { code: app.code, errorCode: app.code, message } };
    res.status(app.status).json(body);
  };
}

export function notFoundHandler() {
  return (_req: Request, _res: Response, next: NextFunction) => next(routeNotFound());
}
