import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { clientIp } from '../../http/client-ip.ts';
import { AppError, authenticationFailed, badRequest, permissionDenied, rateLimited } from '../../shared/errors.ts';
import { closeSession, type ConsoleSession, findSession, openSession, type SessionSettings } from './console-sessions.service.ts';
import { clearSessionCookie, passesCsrfCheck, sameOrigin, sessionToken, setSessionCookie } from './session-cookie.ts';

/** Where `npm run build:console` writes the console (scripts/build-console.ts). */
export const CONSOLE_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../console/dist');

/**
 * Failed sign-ins per client IP: 10 at once, then one more every 6 s; successful ones don't
 * count. Guessing a 40-character secret is hopeless anyway; this keeps the logs and the
 * database quiet, and a person who mistyped is never locked out for long.
 */
const FAILED_SIGN_IN_BURST = 10;
const FAILED_SIGN_IN_PER_SECOND = 1 / 6;

/** Addresses whose failures are remembered at most (about a megabyte). */
const MAX_COUNTED = 10_000;

/** Failures per key (the client IP) as a leaky bucket: `wait` says how long until one more may be tried. */
export function createFailureCounter(burst: number, perSecond: number) {
  const counts = new Map<string, { n: number; at: number }>();
  const level = (key: string, nowMs: number) => {
    const c = counts.get(key);
    if (!c) return 0;
    const n = Math.max(0, c.n - ((nowMs - c.at) / 1000) * perSecond);
    if (n === 0) counts.delete(key);
    return n;
  };
  return {
    /** seconds until `key` may try again; 0: now */
    wait(key: string, nowMs: number): number {
      const n = level(key, nowMs);
      return n + 1 <= burst ? 0 : (n + 1 - burst) / perSecond;
    },
    fail(key: string, nowMs: number) {
      const n = level(key, nowMs) + 1;
      // Re-inserted so the map stays in order of last failure: past the cap the longest quiet go
      // first. (Scanning every entry at each failure past the cap froze the process for minutes
      // when tens of thousands of addresses failed together.)
      counts.delete(key);
      counts.set(key, { n, at: nowMs });
      if (counts.size <= MAX_COUNTED) return;
      let drop = counts.size - MAX_COUNTED * 0.9; // a tenth at once: one pass now and then, not one per failure
      for (const k of counts.keys()) {
        if (drop-- <= 0) break;
        counts.delete(k);
      }
    },
    /** takes back one `fail` (an attempt counted up front that turned out right) */
    forgive(key: string, nowMs: number) {
      const n = level(key, nowMs);
      if (n > 0) counts.set(key, { n: Math.max(0, n - 1), at: nowMs });
    },
  };
}

/**
 * The limiter's key for a client address: an IPv4 address itself, an IPv6 address its /64 (what
 * one subscriber or host is given: counted per address, one machine would have 2^64 tries).
 */
export function signInBucket(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.replace(/%.*$/, '').split('::');
  const groups = (g: string | undefined) => (g ? g.split(':').flatMap((x) => (x.includes('.') ? ['0', '0'] : [x])) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${all
    .slice(0, 4)
    .map((x) => (Number.parseInt(x, 16) || 0).toString(16))
    .join(':')}::/64`;
}

export function sessionSettings(config: AppDeps['config']): SessionSettings {
  return { idleMs: config.consoleSessionIdleMinutes * 60_000, maxMs: config.consoleSessionMaxHours * 3_600_000 };
}

/** How the console's own session endpoints and the API authenticate a session cookie. */
export function sessionFinder(deps: Pick<AppDeps, 'db' | 'resolveKey' | 'config' | 'now'>) {
  const settings = sessionSettings(deps.config);
  return (token: string) => findSession(deps.db, deps.resolveKey, settings, token, deps.now());
}

/** The session, and the service settings the console shows (the advertising title prefix of the send screen's preview). */
function sessionBody(s: ConsoleSession, config: AppDeps['config']) {
  return { accessKey: s.accessKey, projectId: s.projectId, csrfToken: s.csrfToken, expiresAt: s.expiresAt.toISOString(), adTitlePrefix: config.adTitlePrefix };
}

/**
 * The console's sign-in session (outside /api/v1 and its spec: no NCP client calls it):
 * POST /console/session {accessKey, secretKey} signs in, GET answers the session (and its CSRF
 * token, which the page keeps in memory only), DELETE signs out.
 */
export function consoleSessionRouter(deps: AppDeps): Router {
  const router = Router();
  const settings = sessionSettings(deps.config);
  const find = sessionFinder(deps);
  const failures = createFailureCounter(FAILED_SIGN_IN_BURST, FAILED_SIGN_IN_PER_SECOND);
  const noStore = (_req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    next();
  };

  router.post('/console/session', noStore, express.json({ limit: '4kb' }), async (req, res) => {
    // A sign-in from another site's page would put the victim in the attacker's project.
    if (!sameOrigin(req, deps.config.publicBaseUrl)) throw permissionDenied();
    const ip = signInBucket(clientIp(req) ?? 'unknown');
    const wait = failures.wait(ip, Date.now());
    if (wait > 0) throw rateLimited(wait);
    const body = (req.body ?? {}) as { accessKey?: unknown; secretKey?: unknown };
    for (const field of ['accessKey', 'secretKey'] as const) {
      const v = body[field];
      if (typeof v !== 'string' || v.length === 0 || v.length > 200) throw badRequest(`${field}: required, a string of 1 to 200 characters`);
    }
    // Counted as failed before the check and forgiven if right: counted after it, many guesses
    // sent at once would all pass the wait above while the first ones were still being checked.
    failures.fail(ip, Date.now());
    const opened = await openSession(deps.db, deps.resolveKey, settings, body as { accessKey: string; secretKey: string }, deps.now());
    if (!opened) {
      req.log.info({ accessKeyPrefix: String(body.accessKey).slice(0, 4), reason: 'key pair not accepted' }, 'console sign-in failed');
      throw authenticationFailed();
    }
    failures.forgive(ip, Date.now());
    req.log.info({ accessKey: opened.session.accessKey }, 'console signed in');
    setSessionCookie(req, res, opened.token, opened.session.expiresAt);
    res.json(sessionBody(opened.session, deps.config));
  });

  router.get('/console/session', noStore, async (req, res) => {
    const session = await find(sessionToken(req));
    if (!session) throw authenticationFailed();
    res.json(sessionBody(session, deps.config));
  });

  router.delete('/console/session', noStore, async (req, res) => {
    const token = sessionToken(req);
    const session = await find(token);
    // Signing out another's session needs its token and CSRF token: a cross-site page can't.
    if (session && !passesCsrfCheck(req, session, deps.config.publicBaseUrl)) throw permissionDenied();
    await closeSession(deps.db, token);
    clearSessionCookie(req, res);
    if (session) req.log.info({ accessKey: session.accessKey }, 'console signed out');
    res.status(204).end();
  });

  router.all('/console/session', () => {
    throw new AppError(405, '77001', 'Unsupported method type');
  });
  return router;
}

/**
 * The console's page headers. Scripts only from the service itself (no inline script, no eval);
 * styles may be inline because a mail body shown in the sandboxed preview frame (which inherits
 * this policy) is styled inline; images only from here, data: or blob: (a mail's remote images
 * are not fetched). No framing of the console by anyone.
 */
const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(_req: Request, res: Response, next: NextFunction) {
  res.set({
    'Content-Security-Policy': CONSOLE_CSP,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
  });
  next();
}

/**
 * The built console at /console: hashed assets cached for a year, index.html (never cached) for
 * every other /console path, so a screen's URL can be reloaded or shared.
 */
export function consolePageRouter(dist: string = CONSOLE_DIST): Router {
  const router = Router();
  router.use('/console', securityHeaders);
  router.use('/console/assets', express.static(path.join(dist, 'assets'), { immutable: true, maxAge: '365d', index: false }));
  router.use('/console/assets', (_req, res) => {
    res.status(404).type('text/plain').send('Not found\n');
  });
  const page = (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const index = path.join(dist, 'index.html');
    if (!fs.existsSync(index)) {
      res.status(503).type('text/plain').send('The console is not built: run `npm run build:console` (npm start does it).\n');
      return;
    }
    res.set('Cache-Control', 'no-cache');
    res.sendFile(index);
  };
  router.get('/console', (req, res, next) => (req.originalUrl.split('?')[0] === '/console' ? res.redirect(301, '/console/') : page(req, res, next)));
  router.get('/console/{*rest}', page);
  return router;
}
