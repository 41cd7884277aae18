import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from '../../../src/generated/api.ts';
import { API_LANG, type Lang } from '../i18n/i18n.tsx';

/**
 * The console calls the same /api/v1 operations as any client, typed from openapi/openapi.yaml.
 * It is authenticated by its session cookie (HttpOnly: this code never sees it); every
 * state-changing call carries the session's CSRF token, and the browser adds Origin.
 */
let csrfToken = '';
let lang: Lang = 'ja';
export function setCsrfToken(token: string) {
  csrfToken = token;
}
export function setApiLang(l: Lang) {
  lang = l;
}

/** Called when an API call answers 401: the session expired or was signed out elsewhere. */
let onUnauthorized: () => void = () => {};
export function setOnUnauthorized(fn: () => void) {
  onUnauthorized = fn;
}

const sessionMiddleware: Middleware = {
  onRequest({ request }) {
    request.headers.set('x-ncp-lang', API_LANG[lang]);
    if (request.method !== 'GET' && request.method !== 'HEAD') request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) onUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: '/api/v1', credentials: 'same-origin' });
api.use(sessionMiddleware);

/** The API's error body: {"error":{"code"?,"errorCode","message"}}. */
export interface ApiErrorBody {
  error?: { code?: string; errorCode?: string; message?: string };
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, body: unknown) {
    const e = (body as ApiErrorBody | undefined)?.error;
    super(e?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = e?.errorCode ?? e?.code ?? String(status);
  }
  /**
   * The request field the message names ("title: must be ...", "recipients[3].address: ..."),
   * so the form can show the error next to that field.
   */
  get field(): string | undefined {
    const m = /^([A-Za-z][\w.[\]]*)\s*:/.exec(this.message) ?? /^\/body\/([\w/]+)/.exec(this.message);
    return m?.[1]?.replace(/\//g, '.');
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiError thrown for react-query. */
export function unwrap<T>(res: { data?: T; error?: unknown; response: Response }): T {
  if (res.error !== undefined || !res.response.ok) throw new ApiError(res.response.status, res.error);
  return res.data as T;
}
