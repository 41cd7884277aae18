import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../logger.ts';

declare global {
  namespace Express {
    interface Request {
      log: Logger;
      traceId: string;
    }
  }
}

/**
 * An id the caller (or a proxy in front) gave the request is kept when it looks like an id:
 * letters, digits and `-_.:` up to 128 characters, nothing a log line could be forged with.
 */
const INCOMING_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

function incomingId(req: Request): string | undefined {
  for (const name of ['x-ncp-trace-id', 'x-request-id']) {
    const v = req.headers[name];
    const id = Array.isArray(v) ? v[0] : v;
    if (id && INCOMING_ID.test(id)) return id;
  }
  return undefined;
}

/** The path as the client sent it (`/api/v1/mails`, not the router's `/mails`), never the query: it may hold addresses. */
function loggedPath(originalUrl: string): string {
  const path = originalUrl.split('?', 1)[0]!;
  // An unsubscribe link's token is a credential: it never reaches the logs (Express routes
  // ignore case, so neither does this).
  return /^\/unsubscribe\//i.test(path) ? '/unsubscribe/{token}' : path;
}

/**
 * Every response carries x-ncp-trace-id (and x-request-id when the request had one), and every
 * log line of that request carries the same id, so a client's report can be found in the logs.
 */
export function traceRequests(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const traceId = incomingId(req) ?? crypto.randomUUID().replaceAll('-', '');
    req.traceId = traceId;
    req.log = logger.child({ traceId });
    res.setHeader('x-ncp-trace-id', traceId);
    if (req.headers['x-request-id'] !== undefined) res.setHeader('x-request-id', traceId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { method: req.method, path: loggedPath(req.originalUrl), status: res.statusCode, ms: Math.round(ms * 10) / 10, projectId: req.projectId };
      if (res.statusCode >= 500) req.log.error(line, 'request failed');
      else req.log.info(line, 'request');
    });
    next();
  };
}
