/**
 * Typed errors, mapped to NCP's bodies in one place (src/http/error-handler.ts).
 * Service errors answer {"error":{"code","errorCode","message"}}; gateway errors
 * (authentication, body too large, rate limit) answer {"error":{"errorCode","message"}}.
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly gateway: boolean;

  constructor(status: number, code: string, message: string, gateway = false) {
    super(message);
    this.status = status;
    this.code = code;
    this.gateway = gateway;
  }
}

/** 400/77102: the message names the field and the rule it broke. */
export const badRequest = (message: string) => new AppError(400, '77102', message);
/** 400/77103: also for ids of another project, so existence never leaks across tenants. */
export const notFound = (message: string) => new AppError(400, '77103', message);
export const methodNotAllowed = (message = 'Unsupported method type') => new AppError(405, '77001', message);
export const unsupportedMediaType = (message = 'Unsupported media type') => new AppError(415, '77002', message);
export const conflict = (message: string) => new AppError(409, '77102', message);
export const internalError = (message = 'Internal server error') => new AppError(500, '77303', message);

export const authenticationFailed = () => new AppError(401, '200', 'Authentication Failed', true);
/** 403 in the gateway's shape: a console call without its CSRF token or from another origin. */
export const permissionDenied = () => new AppError(403, '210', 'Permission Denied', true);
export const entityTooLarge = () => new AppError(413, '430', 'Request Entity Too Large', true);
export const routeNotFound = () => new AppError(404, '300', 'Not Found Exception', true);
/** 429 in the gateway's shape; the error handler sends Retry-After with it. */
export class RateLimitedError extends AppError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number, message = 'Rate Limited') {
    super(429, '420', message, true);
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}
export const rateLimited = (retryAfterSeconds: number, message?: string) => new RateLimitedError(retryAfterSeconds, message);
/** 503 with Retry-After: the database can't be reached or has no connection free now; nothing was done. */
export class UnavailableError extends AppError {
  readonly retryAfterSeconds: number;

  constructor(message = 'The service is busy or its database is not reachable; nothing was done, try again shortly') {
    super(503, '77303', message);
    this.retryAfterSeconds = 5;
  }
}
export const gatewayBadRequest = (message = 'Bad Request Exception') => new AppError(400, '100', message, true);
