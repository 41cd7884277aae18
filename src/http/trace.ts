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
 * Every response carries x-ncp-trace-id, and every log line of that request carries the same
 * id, so a client's report can be found in the logs.
 */
export function traceRequests(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const traceId = crypto.randomUUID().replaceAll('-', '');
    req.traceId = traceId;
    req.log = logger.child({ traceId });
    res.setHeader('x-ncp-trace-id', traceId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // An unsubscribe link's token is a credential: it never reaches the logs (Express routes
      // ignore case, so neither does this).
      const path = /^\/unsubscribe\//i.test(req.path) ? '/unsubscribe/{token}' : req.path;
      const line = { method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10, projectId: req.projectId };
      if (res.statusCode >= 500) req.log.error(line, 'request failed');
      else req.log.info(line, 'request');
    });
    next();
  };
}
