import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { AppDeps } from './deps.ts';
import { signatureAuth } from './http/auth.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';
import { refuseUnstorableText } from './http/storable-text.ts';
import { traceRequests } from './http/trace.ts';
import { requestsRouter } from './modules/requests/requests.router.ts';
import { mailsRouter } from './modules/mails/mails.router.ts';
import { filesRouter } from './modules/files/files.router.ts';
import { recipientFilesRouter } from './modules/recipient-files/recipient-files.router.ts';
import { templatesRouter } from './modules/templates/templates.router.ts';
import { unsubscribePageRouter, unsubscribersRouter } from './modules/unsubscribes/unsubscribes.router.ts';
import { sendBlockRouter } from './modules/send-block/send-block.router.ts';
import { addressBookRouter } from './modules/address-book/address-book.router.ts';
import { exportsRouter } from './modules/exports/exports.router.ts';

export const API_SPEC_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../openapi/openapi.yaml');

export interface AppOptions {
  /** validate responses against the spec too (on in tests) */
  validateResponses?: boolean;
}

/** The express app without listen(): routers, validation, auth and the one error mapper. */
export function createApp(deps: AppDeps, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // Client IPs as seen through a proxy are only trusted from loopback.
  app.set('trust proxy', 'loopback');
  app.use(traceRequests(deps.logger));
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Public (no signature, outside /api/v1 and its validator): the token in the URL is the credential.
  app.use(unsubscribePageRouter(deps));

  const api = express.Router();
  api.use(signatureAuth(deps.resolveKey));
  // NCP clients send Content-Type: application/json on GET and DELETE too, and DELETE bodies.
  api.use(
    express.json({
      limit: deps.config.maxBodyBytes,
      type: ['application/json', 'application/*+json'],
      // Kept (not copied) for Idempotency-Key: a replay is recognised by the bytes it sent.
      verify: (req, _res, buf) => {
        (req as express.Request).rawBody = buf;
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
  app.use(
    OpenApiValidator.middleware({
      apiSpec: API_SPEC_PATH,
      // coerceTypes applies to the JSON body only: the validator always coerces query, path and
      // header parameters. Coercing the body would accept `"title": 123` as "123" (PRODUCT §8:
      // a wrong type is 400/77102 naming the field).
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
  app.use('/api/v1', addressBookRouter(deps));
  app.use('/api/v1', exportsRouter(deps));
  app.use(notFoundHandler());
  app.use(errorHandler());
  return app;
}
