import { createContext, useContext } from 'react';
import { ApiError, setCsrfToken } from './client.ts';

/** The console's own session endpoints (outside /api/v1 and its spec): see src/modules/console. */
export interface Session {
  accessKey: string;
  projectId: string;
  csrfToken: string;
  expiresAt: string;
  /** AD_TITLE_PREFIX: put in front of an advertising mail's title */
  adTitlePrefix: string;
}

async function sessionCall(method: string, body?: unknown, csrf = ''): Promise<Session | undefined> {
  const res = await fetch('/console/session', {
    method,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...(csrf ? { 'x-csrf-token': csrf } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined;
  const json = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiError(res.status, json);
  const session = json as Session;
  setCsrfToken(session.csrfToken);
  return session;
}

/** The current session, or undefined when signed out (401). */
export async function currentSession(): Promise<Session | undefined> {
  try {
    return await sessionCall('GET');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
}

export function signIn(accessKey: string, secretKey: string): Promise<Session | undefined> {
  return sessionCall('POST', { accessKey, secretKey });
}

export async function signOut(csrf: string): Promise<void> {
  await sessionCall('DELETE', undefined, csrf);
  setCsrfToken('');
}

/** The signed-in session, for screens that show what it carries (the send screen's ad title prefix). */
export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in console');
  return s;
}
