import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { cacheOpenApiRouteMatchers } from './http/route-matcher-cache.ts';
import type { AppDeps } from './deps.ts';
import { signatureAuth, signatureOrSessionAuth } from './http/auth.ts';
import { consolePageRouter, consoleSessionRouter, sessionFinder } from './modules/console/console.router.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';
import { refuseUnstorableText } from './http/storable-text.ts';
import { traceRequests } from './http/trace.ts';
import { admitLargeBodies, createByteBudget } from './http/body-budget.ts';
import { createRateLimiter, rateLimitByKey } from './http/rate-limit.ts';
import { healthRouter, httpMetrics, metricsRouter } from './http/operations.ts';
import { apiDocsRouter } from './http/api-docs.ts';
import { requestsRouter } from './modules/requests/requests.router.ts';
import { INLINE_RECIPIENTS } from './modules/requests/requests.service.ts';
import { specElementCheck } from './http/spec-element-check.ts';
import { mailsRouter } from './modules/mails/mails.router.ts';
import { filesRouter } from './modules/files/files.router.ts';
import { recipientFilesRouter } from './modules/recipient-files/recipient-files.router.ts';
import { templatesRouter } from './modules/templates/templates.router.ts';
import { unsubscribePageRouter, unsubscribersRouter } from './modules/unsubscribes/unsubscribes.router.ts';
import { sendBlockRouter } from './modules/send-block/send-block.router.ts';
import { senderDomainsRouter } from './modules/sender-domains/sender-domains.router.ts';
import { blockedDomainsRouter } from './modules/blocked-domains/blocked-domains.router.ts';
import { addressBookRouter } from './modules/address-book/address-book.router.ts';
import { exportsRouter } from './modules/exports/exports.router.ts';
import { accessKeysRouter } from './modules/projects/access-keys.router.ts';
import { webhooksRouter } from './modules/webhooks/webhooks.router.ts';
import { deliveryStateRouter } from './modules/delivery/delivery-state.router.ts';

export const API_SPEC_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../openapi/openapi.yaml');

/** JSON bodies from this size on are admitted by the body budget; one-mail requests are far below it. */
const LARGE_BODY_MIN_BYTES = 256 * 1024;
/** Large bodies that may wait for their turn at once; more are refused at once (429). */
const LARGE_BODIES_WAITING = 16;

export interface AppOptions {
  /** validate responses against the spec too (on in tests) */
  validateResponses?: boolean;
}

/** The express app without listen(): routers, validation, auth and the one error mapper. */
export function createApp(deps: AppDeps, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // X-Forwarded-For names the client only when it comes from a configured proxy (TRUST_PROXY).
  app.set('trust proxy', deps.config.trustProxy);
  app.use(httpMetrics());
  app.use(traceRequests(deps.logger));
  // Public (no signature): health, metrics (unless off or on METRICS_PORT), the spec and /docs.
  app.use(healthRouter(deps));
  if (deps.config.metricsEnabled && deps.config.metricsPort === undefined) app.use(metricsRouter(deps.db, [...deps.config.throttle.domains.keys()]));
  app.use(apiDocsRouter(API_SPEC_PATH));
  // Public (no signature, outside /api/v1 and its validator): the token in the URL is the credential.
  app.use(unsubscribePageRouter(deps));
  // The web console: its page, and its sign-in session (the cookie then authenticates /api/v1).
  app.use(consoleSessionRouter(deps));
  app.use(consolePageRouter());

  const api = express.Router();
  api.use(signatureOrSessionAuth(signatureAuth(deps.resolveKey), sessionFinder(deps), deps.config.publicBaseUrl));
  api.use(rateLimitByKey(createRateLimiter(deps.config.rateLimitPerSecond, deps.config.rateLimitBurst)));
  api.use(
    admitLargeBodies(createByteBudget(deps.config.bodyBudgetBytes, LARGE_BODIES_WAITING), {
      minBytes: LARGE_BODY_MIN_BYTES,
      maxBytes: deps.config.maxBodyBytes,
      waitMs: deps.config.bodyBudgetWaitMs,
      // A createMailRequest stored by a job: its recipients stay bytes until stored.
      defer: {
        applies: (req) => req.method === 'POST' && req.path === '/mails',
        key: 'recipients',
        minElements: INLINE_RECIPIENTS + 1,
        checkElement: specElementCheck(API_SPEC_PATH, 'RecipientForRequest', '/body/recipients'),
      },
    }),
  );
  // NCP clients send Content-Type: application/json on GET and DELETE too, and DELETE bodies.
  api.use(
    express.json({
      limit: deps.config.maxBodyBytes,
      type: ['application/json', 'application/*+json'],
      // Kept (not copied) for Idempotency-Key: a replay is recognised by the bytes it sent.
      // Without the header it is not kept: a large body's bytes would outlive its parse.
      verify: (req, _res, buf) => {
        if (req.headers['idempotency-key'] !== undefined) (req as express.Request).rawBody = buf;
      },
    }),
  );
  api.use(refuseUnstorableText());
  // HEAD is GET without the body (RFC 9110 §9.3.2): the spec lists GET only, so the validator
  // and the routers see GET. The signature was checked above against the method as sent; Node
  // leaves the body out of the answer to a HEAD request whatever the handler writes.
  api.use((req, _res, next) => {
    if (req.method === 'HEAD') req.method = 'GET';
    next();
  });
  app.use('/api/v1', api);
  cacheOpenApiRouteMatchers();
  app.use(
    OpenApiValidator.middleware({
      apiSpec: API_SPEC_PATH,
      // coerceTypes applies to the JSON body only: the validator always coerces query, path and
      // header parameters. Coercing the body would accept `"title": 123` as "123", where a wrong
      // type must be 400/77102 naming the field.
      validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false },
      validateResponses: options.validateResponses ?? false,
      validateSecurity: false,
      // Every route is in the spec, so the validator also tells unknown paths (404) from
      // known paths called with another method (405/77001).
      ignoreUndocumented: false,
      // Multipart bodies are streamed to disk by the routes (src/http/multipart.ts); the
      // validator's own uploader would hold every file in memory.
      fileUploader: false,
      $refParser: { mode: 'dereference' },
    }),
  );
  app.use('/api/v1', requestsRouter(deps));
  app.use('/api/v1', mailsRouter(deps));
  app.use('/api/v1', filesRouter(deps));
  app.use('/api/v1', recipientFilesRouter(deps));
  app.use('/api/v1', templatesRouter(deps));
  app.use('/api/v1', unsubscribersRouter(deps));
  app.use('/api/v1', sendBlockRouter(deps));
  app.use('/api/v1', blockedDomainsRouter(deps));
  app.use('/api/v1', senderDomainsRouter(deps));
  app.use('/api/v1', addressBookRouter(deps));
  app.use('/api/v1', exportsRouter(deps));
  app.use('/api/v1', accessKeysRouter(deps));
  app.use('/api/v1', webhooksRouter(deps));
  app.use('/api/v1', deliveryStateRouter(deps));
  app.use(notFoundHandler());
  app.use(errorHandler());
  return app;
}
