import type { NextFunction, Request, Response } from 'express';
import { authenticationFailed } from '../shared/errors.ts';
import type { KeyResolver } from '../modules/projects/projects.service.ts';
import { verifySignature } from './signature.ts';

declare global {
  namespace Express {
    interface Request {
      projectId?: string;
      accessKey?: string;
    }
  }
}

function header(req: Request, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/**
 * Verifies NCP signature v2 (also accepted as x-ncp-apigw-signature-v1: NCP's own Python
 * sample sends that header, computed the same way). Every failure is the gateway's
 * 401 {"error":{"errorCode":"200","message":"Authentication Failed"}}, never 400 or 403.
 */
export function signatureAuth(resolveKey: KeyResolver, now: () => number = Date.now) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    try {
      const accessKey = header(req, 'x-ncp-iam-access-key');
      const timestamp = header(req, 'x-ncp-apigw-timestamp');
      const signature = header(req, 'x-ncp-apigw-signature-v2') || header(req, 'x-ncp-apigw-signature-v1');
      if (!accessKey || !timestamp || !signature) {
        const missing = [!accessKey && 'x-ncp-iam-access-key', !timestamp && 'x-ncp-apigw-timestamp', !signature && 'x-ncp-apigw-signature-v2'].filter(Boolean);
        req.log?.info({ reason: 'missing header', missing }, 'authentication failed');
        return next(authenticationFailed());
      }
      const key = await resolveKey(accessKey);
      if (!key) {
        // Only a prefix: a client that swapped its access key and secret would log its secret.
        req.log?.info({ accessKeyPrefix: accessKey.slice(0, 4), reason: 'unknown key' }, 'authentication failed');
        return next(authenticationFailed());
      }
      const check = verifySignature({
        secret: key.secret,
        method: req.method,
        target: req.originalUrl,
        timestamp,
        accessKey,
        signature,
        now: now(),
      });
      if (check !== 'ok') {
        // Never the signature or the secret: the reason is enough to tell a clock from a key problem.
        req.log?.info({ accessKey, reason: check === 'skew' ? 'timestamp skew' : 'signature mismatch' }, 'authentication failed');
        return next(authenticationFailed());
      }
      req.projectId = key.projectId;
      req.accessKey = accessKey;
      next();
    } catch (err) {
      next(err);
    }
  };
}
