import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { sql } from 'kysely';
import type { Db } from '../db/schema.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';
import { METRICS_CONTENT_TYPE, UNMATCHED_ROUTE, observeHttpRequest, scrape } from '../metrics.ts';

/**
 * Where the process is in its life: a load balancer sends traffic only while it is ready.
 * starting: until everything the role needs has started; draining: from SIGTERM on.
 */
export interface Readiness {
  state: 'starting' | 'ready' | 'draining';
}

export function createReadiness(state: Readiness['state'] = 'starting'): Readiness {
  return { state };
}

/** A database that takes longer than this to answer `SELECT 1` counts as not answering. */
const READY_DB_TIMEOUT_MS = 2_000;

async function databaseAnswers(db: Db): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_DB_TIMEOUT_MS);
  });
  const ping = sql`SELECT 1`.execute(db).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /health/live: 200 while the process runs. /health/ready (and /health, kept for existing
 * checks): 200 {"status":"ok"} when started, not draining and the database answers; else 503
 * naming which. Never cached, never signed.
 */
export function healthRouter(deps: { db: Db; readiness?: Readiness }): Router {
  const router = express.Router();
  const noStore = (res: Response) => res.setHeader('Cache-Control', 'no-store');
  router.get('/health/live', (_req, res) => {
    noStore(res);
    res.json({ status: 'ok' });
  });
  const ready = async (_req: Request, res: Response) => {
    noStore(res);
    const state = deps.readiness?.state ?? 'ready';
    if (state !== 'ready') return void res.status(503).json({ status: state });
    if (!(await databaseAnswers(deps.db))) return void res.status(503).json({ status: 'database unavailable' });
    res.json({ status: 'ok' });
  };
  router.get('/health/ready', ready);
  router.get('/health', ready);
  return router;
}

/** GET /metrics: Prometheus text format, the queue depth and paused domains read at scrape time (`throttledDomains` labelled by name). */
export function metricsRouter(db: Db, throttledDomains: readonly string[] = []): Router {
  const router = express.Router();
  router.get('/metrics', async (_req, res, next) => {
    try {
      const text = await scrape(db, throttledDomains);
      res.setHeader('Cache-Control', 'no-store');
      res.type(METRICS_CONTENT_TYPE).send(text);
    } catch (err) {
      next(err);
    }
  });
  return router;
}

/**
 * Times every request by its route template (`/api/v1/mails/requests/:requestId/status`), not its
 * path: ids in paths would make one time series per id.
 */
export function httpMetrics() {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : UNMATCHED_ROUTE;
      observeHttpRequest(req.method, route, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

/**
 * A small listener for health and metrics alone: what ROLE=worker serves on PORT, and where
 * /metrics goes when METRICS_PORT moves it off the service's port.
 */
export async function startOpsServer(opts: {
  port: number;
  db: Db;
  readiness?: Readiness;
  health: boolean;
  metrics: boolean;
  throttledDomains?: readonly string[];
}): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  if (opts.health) app.use(healthRouter({ db: opts.db, readiness: opts.readiness }));
  if (opts.metrics) app.use(metricsRouter(opts.db, opts.throttledDomains));
  app.use(notFoundHandler());
  app.use(errorHandler());
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port, () => resolve(s));
    s.once('error', reject);
  });
  return server;
}
