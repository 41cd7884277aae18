import type { Request, Response } from 'express';
import { type ConsoleSession, SESSION_COOKIE, sameSecret } from './console-sessions.service.ts';

/**
 * The session token from the Cookie header ('' when absent); no cookie-parser for one cookie.
 * Two different ones are none: a sibling subdomain can set a cookie of the same name for the
 * parent domain (cookie tossing), and taking whichever comes first would put the console in the
 * tosser's project, sign-in form and all, with the victim's data going there.
 */
export function sessionToken(req: Request): string {
  const header = req.headers.cookie;
  if (!header) return '';
  let token = '';
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (token && value !== token) return '';
    token = value;
  }
  return token;
}

/** Secure when the console is reached over https (directly, or behind a proxy named by TRUST_PROXY). */
export function setSessionCookie(req: Request, res: Response, token: string, expires: Date) {
  res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/', expires });
}

export function clearSessionCookie(req: Request, res: Response) {
  res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
}

/**
 * Whether a state-changing console call comes from the console's own pages. Browsers say so in
 * Sec-Fetch-Site (Chromium omits Origin on some same-origin fetches, so Origin alone would refuse
 * the console itself); where a browser sends only Origin, it must be the request's own (scheme
 * and Host as the service sees them) or PUBLIC_BASE_URL's. Neither header: refused, since only a
 * non-browser client omits both, and those sign their requests.
 */
export function sameOrigin(req: Request, publicBaseUrl: string): boolean {
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  if (site !== undefined && site !== 'same-origin') return false;
  if (origin === undefined) return site === 'same-origin';
  if (origin === `${req.protocol}://${req.get('host')}`) return true;
  try {
    return origin === new URL(publicBaseUrl).origin;
  } catch {
    return false;
  }
}

/**
 * The CSRF rule of every state-changing session call (the API's and sign-out alike): the
 * session's token in x-csrf-token, from the console's own origin. SameSite=Strict alone would
 * not cover a sibling subdomain or an old browser.
 */
export function passesCsrfCheck(req: Request, session: ConsoleSession, publicBaseUrl: string): boolean {
  const token = req.get('x-csrf-token');
  return sameOrigin(req, publicBaseUrl) && token !== undefined && token !== '' && sameSecret(token, session.csrfToken);
}
