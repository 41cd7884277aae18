import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { authenticationFailed, permissionDenied } from '../shared/errors.ts';
import type { KeyResolver } from '../modules/projects/projects.service.ts';
import type { ConsoleSession } from '../modules/console/console-sessions.service.ts';
import { passesCsrfCheck, sessionToken } from '../modules/console/session-cookie.ts';
import { verifySignature } from './signature.ts';

declare global {
  namespace Express {
    interface Request {
      projectId?: string;
      accessKey?: string;
      /** set when the call was authenticated by the web console's session, not a signature */
      consoleSession?: ConsoleSession;
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

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * /api/v1 is signed (NCP signature v2), or called by the web console with its session cookie.
 * A request with any signature header is checked as signed, whatever cookie it carries. A session
 * call that changes state must carry the session's CSRF token (x-csrf-token) and a same-origin
 * Origin: the SameSite=Strict cookie alone would not cover a sibling subdomain or an old browser.
 */
export function signatureOrSessionAuth(
  signature: RequestHandler,
  findSession: (token: string) => Promise<ConsoleSession | undefined>,
  publicBaseUrl: string,
): RequestHandler {
  return async (req, res, next) => {
    const signed = req.headers['x-ncp-iam-access-key'] !== undefined || req.headers['x-ncp-apigw-timestamp'] !== undefined;
    const token = signed ? '' : sessionToken(req);
    if (!token) return signature(req, res, next);
    try {
      const session = await findSession(token);
      if (!session) {
        req.log?.info({ reason: 'no live console session' }, 'authentication failed');
        return next(authenticationFailed());
      }
      if (!SAFE_METHODS.has(req.method)) {
        if (!passesCsrfCheck(req, session, publicBaseUrl)) {
          req.log?.warn(
            { accessKey: session.accessKey, origin: req.get('origin') ?? null, csrf: Boolean(req.get('x-csrf-token')) },
            'console call refused: CSRF check failed',
          );
          return next(permissionDenied());
        }
      }
      req.projectId = session.projectId;
      req.accessKey = session.accessKey;
      req.consoleSession = session;
      next();
    } catch (err) {
      next(err);
    }
  };
}
