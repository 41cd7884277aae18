import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type Response, type Router } from 'express';
import YAML from 'yaml';

const DOCS_DIR = path.join(import.meta.dirname, 'docs');
// Served from node_modules, never a CDN: the service may run where there is no Internet.
const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/**
 * Only this origin's scripts run on the page (Swagger UI and ours). Swagger UI sets style
 * attributes, hence 'unsafe-inline' for styles alone; images include its data: icons.
 */
const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

function strictHeaders(res: Response) {
  res.setHeader('Content-Security-Policy', DOCS_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

const specCache = new Map<string, { yamlText: string; jsonText: string }>();

/** Read and converted once per process: the spec does not change while it runs. */
function specTexts(specPath: string) {
  let texts = specCache.get(specPath);
  if (!texts) {
    const yamlText = fs.readFileSync(specPath, 'utf8');
    texts = { yamlText, jsonText: JSON.stringify(YAML.parse(yamlText)) };
    specCache.set(specPath, texts);
  }
  return texts;
}

/**
 * The contract and its interactive reference, public (no signature): GET /openapi.yaml and
 * /openapi.json (read and converted once), GET /docs (Swagger UI that signs "Try it out"
 * requests in the browser).
 */
export function apiDocsRouter(specPath: string): Router {
  const { yamlText, jsonText } = specTexts(specPath);
  const router = express.Router();
  router.get('/openapi.yaml', (_req, res) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.type('application/yaml; charset=utf-8').send(yamlText);
  });
  router.get('/openapi.json', (_req, res) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.type('application/json; charset=utf-8').send(jsonText);
  });
  const page = fs.readFileSync(path.join(DOCS_DIR, 'index.html'), 'utf8');
  router.get(['/docs', '/docs/'], (_req, res) => {
    strictHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(page);
  });
  const assets = { index: false, fallthrough: true, setHeaders: strictHeaders } as const;
  router.use('/docs/swagger-ui', express.static(SWAGGER_UI_DIR, assets));
  router.use('/docs', express.static(DOCS_DIR, assets));
  return router;
}
