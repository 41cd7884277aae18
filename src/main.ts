import { blobStoreLogFields, createBlobStore } from './shared/blob-store/create-blob-store.ts';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { createApp } from './app.ts';
import { answerClientErrors } from './http/client-errors.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { connectDb, SERVICE_POOL_MAX } from './db/connect.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from './db/embedded.ts';
import { migrateToLatest } from './db/migrate.ts';
import { startQueue } from './jobs/queue.ts';
import { registerWorkers } from './jobs/workers.ts';
import { createLogger, redactUrl, type Logger } from './logger.ts';
import { startDevSink, type DevSink } from './modules/delivery/dev-sink.ts';
import { createConfiguredTransport } from './modules/delivery/transport.ts';
import { checkRelayAtStart } from './modules/delivery/relay-health.ts';
import { createKeyResolver, ensureStartupKey } from './modules/projects/projects.service.ts';
import { listenForKeyChanges } from './modules/projects/key-changes.ts';
import { CONSOLE_DIST } from './modules/console/console.router.ts';
import { createSecretBox, loadMasterKey } from './shared/secret-box.ts';
import { createReadiness, startOpsServer } from './http/operations.ts';
import { instrumentTransport } from './metrics.ts';
import { startInboundServer } from './modules/feedback/inbound-server.ts';

export interface RunningService {
  port: number;
  /** the bounce and complaint listener's port, when INBOUND_SMTP_PORT is set (worker and all roles) */
  inboundPort?: number;
  stop(): Promise<void>;
}

function printKeyOnce(key: { projectName: string; accessKey: string; secretKey: string }) {
  // Printed to the terminal once, never logged: the secret is not stored in plain text anywhere.
  process.stdout.write(
    [
      '',
      '================ Outbound Mailer: first access key ================',
      `project:     ${key.projectName}`,
      `access key:  ${key.accessKey}`,
      `secret key:  ${key.secretKey}`,
      'Keep the secret now: it is shown only this once.',
      'Use it with: MAILER_ACCESS_KEY=... MAILER_SECRET_KEY=... npm run mailer -- GET /api/v1/mails/requests',
      '====================================================================',
      '',
    ].join('\n'),
  );
}

/** Starts everything the configuration asks for; returns a handle that drains and stops it. */
function portError(err: Error, port: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new Error(`port ${port} is in use (set PORT to another one)`, { cause: err });
  if (code === 'EACCES') return new Error(`port ${port} needs privileges this user lacks (set PORT to one above 1023)`, { cause: err });
  return err;
}

/** Fails with "port N is in use" when something already listens there (0: any port, nothing to check). */
async function assertPortFree(port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err) => reject(portError(err, port)));
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

export async function startService(config: Readonly<Config>, logger: Logger): Promise<RunningService> {
  const cleanups: (() => Promise<void>)[] = [];
  const readiness = createReadiness();
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => logger.error({ err }, 'error while stopping'));
  };
  try {
    // Before the database and the workers: a port in use is said at once, in one line.
    if (config.role !== 'worker' || config.metricsPort === undefined) await assertPortFree(config.port);
    fs.mkdirSync(config.dataDir, { recursive: true });

    let databaseUrl = config.databaseUrl;
    let embedded: EmbeddedDb | undefined;
    if (!databaseUrl) {
      const dir = path.join(config.dataDir, 'pg');
      embedded = await startEmbeddedPostgres({
        dir,
        database: 'mailer',
        onLog: (l) => logger.trace({ pg: l.trim() }, 'embedded postgres'),
        onStale: (s) =>
          logger.warn(
            { postmasterPid: s.kind === 'none' ? undefined : s.pid, dataDir: dir },
            s.kind === 'orphan' ? 'stopped the PostgreSQL a crashed service left running' : 'removed a stale postmaster.pid',
          ),
      });
      cleanups.push(() => embedded!.stop());
      databaseUrl = embedded.url;
      logger.info({ database: 'embedded', dataDir: dir, url: redactUrl(databaseUrl) }, 'database: embedded PostgreSQL');
    } else {
      logger.info({ database: 'external', url: redactUrl(databaseUrl) }, 'database: external PostgreSQL');
    }
    const dbh = connectDb(databaseUrl, {
      max: SERVICE_POOL_MAX,
      onError: (err) => logger.warn({ err: err.message }, 'database connection lost; reconnecting on next use'),
    });
    cleanups.push(() => dbh.close());
    // Health and metrics of a worker (it has no API) and metrics on METRICS_PORT: up from here,
    // 503 until started, and closed last so a drain answers 503 too.
    const metricsOnOwnPort = config.metricsEnabled && config.metricsPort !== undefined;
    const opsServers = [
      ...(config.role === 'worker' ? [{ port: config.port, health: true, metrics: config.metricsEnabled && !metricsOnOwnPort }] : []),
      ...(metricsOnOwnPort ? [{ port: config.metricsPort!, health: false, metrics: true }] : []),
    ];
    for (const o of opsServers) {
      const server = await startOpsServer({ ...o, db: dbh.db, readiness, throttledDomains: [...config.throttle.domains.keys()] });
      cleanups.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      );
      logger.info({ port: (server.address() as { port: number }).port, health: o.health, metrics: o.metrics }, 'health and metrics listener');
    }
    const applied = await migrateToLatest(dbh.db);
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');

    const box = createSecretBox(loadMasterKey(config.masterKey, config.dataDir));
    const pair = config.accessKey && config.secretKey ? { accessKey: config.accessKey, secretKey: config.secretKey } : undefined;
    const ensured = await ensureStartupKey(dbh.db, box, pair);
    if (ensured.kind === 'created') {
      if (pair) logger.info({ accessKey: pair.accessKey }, 'access key from MAILER_ACCESS_KEY created');
      else printKeyOnce(ensured.key);
    }

    const blobs = createBlobStore(config, dbh.db);
    cleanups.push(() => blobs.close());
    logger.info(blobStoreLogFields(config.blobStore), 'blob store');

    let smtpUrl = config.smtpUrl;
    if (!smtpUrl) {
      const outboxDir = path.join(config.dataDir, 'outbox');
      const sink: DevSink = await startDevSink({ outboxDir, logger });
      cleanups.push(() => sink.close());
      smtpUrl = sink.url;
      logger.info({ smtp: 'built-in sink', url: sink.url, outboxDir }, 'smtp: built-in development sink (mail is stored as .eml, not delivered)');
    } else if (smtpUrl === 'direct') {
      logger.info(
        {
          smtp: 'direct',
          port: config.directSmtpPort,
          helo: config.directHeloName,
          dnsServers: config.dnsServers ?? 'system',
          maxConnectionsPerHost: config.smtpMaxConnections,
        },
        "smtp: direct delivery to each domain's MX hosts (no relay)",
      );
    } else {
      logger.info({ smtp: 'relay', url: redactUrl(smtpUrl), maxConnections: config.smtpMaxConnections }, 'smtp: relay');
    }

    // Cleanups run in reverse: the queue drains its running jobs before the transport closes.
    const transport = instrumentTransport(
      createConfiguredTransport(config, { url: smtpUrl, timeoutMs: config.smtpTimeoutMs, logger }),
      config.smtpMaxConnections,
    );
    cleanups.push(async () => transport.close());
    // A relay that can't be reached is said at start, not found out from RESEND_MAIL_FAIL later.
    // Direct mode has no relay to check: each domain's hosts are found per mail.
    if (config.smtpUrl && config.smtpUrl !== 'direct' && config.role !== 'api')
      void checkRelayAtStart(transport, logger, Math.min(config.smtpTimeoutMs, 10_000));
    const queue = await startQueue(databaseUrl, logger);
    cleanups.push(() => queue.stop());

    const now = () => new Date();
    let inboundPort: number | undefined;
    if (config.role !== 'api') {
      const workers = await registerWorkers({ config, databaseUrl, db: dbh.db, queue, transport, logger, now, box, blobs });
      // Runs before the queue stops (cleanups run in reverse): no new claims, what is held is recorded, then the jobs drain.
      cleanups.push(() => workers.stop());
      logger.info({ concurrency: config.workerConcurrency }, 'workers started');
      if (config.inboundSmtpPort !== undefined) {
        const inbound = await startInboundServer({ config, db: dbh.db, logger, now }, { host: config.inboundSmtpHost, port: config.inboundSmtpPort });
        // Closed before the workers stop (cleanups run in reverse): no report is half applied.
        cleanups.push(() => inbound.close());
        inboundPort = inbound.port;
      }
    }
    let port = 0;
    if (config.role !== 'worker') {
      const keyChanges = await listenForKeyChanges(databaseUrl, logger);
      cleanups.push(() => keyChanges.stop());
      const app = createApp({ config, db: dbh.db, logger, queue, now, box, blobs, resolveKey: createKeyResolver(dbh.db, box, 10_000, keyChanges), readiness });
      const server: Server = await new Promise((resolve, reject) => {
        // Express 5 calls back on an error too (with it): a port taken meanwhile must reject.
        const s = app.listen(config.port, (err?: Error) => (err ? reject(portError(err, config.port)) : resolve(s)));
      });
      server.keepAliveTimeout = 65_000;
      answerClientErrors(server);
      port = (server.address() as { port: number }).port;
      // Stop taking requests first; in-flight ones finish before the rest shuts down.
      cleanups.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          }),
      );
      logger.info({ port, role: config.role }, `listening on http://localhost:${port}`);
      if (fs.existsSync(path.join(CONSOLE_DIST, 'index.html'))) logger.info(`web console on http://localhost:${port}/console/`);
      else logger.warn('the web console is not built (console/dist is missing): /console answers 503; run `npm run build:console` (npm start does it)');
    }
    readiness.state = 'ready';
    return {
      port,
      inboundPort,
      stop: async () => {
        readiness.state = 'draining';
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** An error and its causes as one line: pg's connection errors may carry only a code, or nest an AggregateError. */
export function startupFailureCause(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const x = e as { message?: unknown; code?: unknown; errors?: unknown[]; cause?: unknown };
    const inner = Array.isArray(x.errors) && x.errors.length ? String((x.errors[0] as Error)?.message ?? x.errors[0]) : '';
    const text =
      typeof x.message === 'string' && x.message.trim() ? x.message.trim() : inner || (typeof x.code === 'string' ? x.code : typeof e === 'string' ? e : '');
    if (text && !parts.some((p) => p.includes(text))) parts.push(text.replace(/\s*\n\s*/g, ' '));
    e = x.cause;
  }
  return parts.join(': ') || 'unknown error';
}

async function main() {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let service: RunningService;
  try {
    service = await startService(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    // The cause in one plain line, whatever LOG_LEVEL hides.
    process.stderr.write(`start-up failed: ${startupFailureCause(err)}\n`);
    process.exit(1);
  }
  // Last line only, once serving (a failing start-up still exits): every stream and promise is
  // meant to be handled where it is made. Should one slip through, one tenant's request must not
  // stop the service for all: it is logged as the bug it is.
  process.on('uncaughtException', (err) => logger.fatal({ err }, 'uncaught exception (a bug: an error nobody handled); still serving'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (a bug: a promise nobody awaited); still serving'));
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new work; finishing what is in hand');
    service
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err) => {
        logger.error({ err }, 'unclean stop');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.main) await main();
