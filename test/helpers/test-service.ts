import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { startQueue, type JobQueue } from '../../src/jobs/queue.ts';
import { registerWorkers, type Workers } from '../../src/jobs/workers.ts';
import { createLogger } from '../../src/logger.ts';
import { createConfiguredTransport } from '../../src/modules/delivery/transport.ts';
import { createKey, createKeyResolver, type CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { signRequest } from '../../src/http/signature.ts';
import { createBlobStore } from '../../src/shared/blob-store/create-blob-store.ts';
import type { BlobStore } from '../../src/shared/blob-store/blob-store.ts';
import { createSecretBox, type SecretBox } from '../../src/shared/secret-box.ts';
import { createTestDb, type TestDb } from './test-db.ts';

export interface TestService {
  app: Express;
  db: TestDb;
  config: Readonly<Config>;
  queue: JobQueue;
  box: SecretBox;
  /** the store BLOB_STORE (in `env`) names; local by default, under this instance's own DATA_DIR */
  blobs: BlobStore;
  key: CreatedKey;
  /** a signed request through supertest; `target` is the path with its query string, as sent */
  call(method: string, target: string, opts?: { body?: unknown; key?: CreatedKey; headers?: Record<string, string> }): supertest.Test;
  newKey(project: string): Promise<CreatedKey>;
  /** the in-process workers (undefined with workers: false) */
  workers: Workers | undefined;
  stop(): Promise<void>;
}

/**
 * The service as production wires it (app, queue, workers, pooled transport) on a fresh
 * database, pointed at a real SMTP server (or, with smtpUrl 'direct', at the MX hosts that
 * DNS_SERVERS in `env` name). Response validation against the spec is on.
 * Several instances can share one database (a restart, a service that was down): pass `db`
 * (from createTestDb; the test drops it when every instance is stopped) and the first
 * instance's `box` and `key`, so the same signed key works across instances.
 */
export async function startTestService(opts: {
  smtpUrl: string;
  env?: Record<string, string>;
  workers?: boolean;
  db?: TestDb;
  box?: SecretBox;
  key?: CreatedKey;
}): Promise<TestService> {
  const ownsDb = !opts.db;
  const db = opts.db ?? (await createTestDb());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-test-data-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SMTP_URL: opts.smtpUrl,
    DATABASE_URL: db.url,
    RETRY_BASE_DELAY_MS: '300',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SMTP_MAX_CONNECTIONS: '2',
    ...opts.env,
  });
  const logger = createLogger(config.logLevel);
  const queue = await startQueue(db.url, logger, { schedule: false });
  const box = opts.box ?? createSecretBox(crypto.randomBytes(32));
  const key = opts.key ?? (await createKey(db.db, box, 'test-project'));
  const transport = createConfiguredTransport(config, {
    url: config.smtpUrl!,
    timeoutMs: opts.env?.SMTP_TIMEOUT_MS ? config.smtpTimeoutMs : 3000,
    logger,
  });
  const now = () => new Date();
  const blobs = createBlobStore(config, db.db);
  const workers =
    opts.workers !== false ? await registerWorkers({ config, databaseUrl: db.url, db: db.db, queue, transport, logger, now, box, blobs }) : undefined;
  const app = createApp({ config, db: db.db, logger, queue, now, box, blobs, resolveKey: createKeyResolver(db.db, box, 0) }, { validateResponses: true });
  const agent = supertest(app);

  return {
    app,
    db,
    config,
    queue,
    box,
    blobs,
    key,
    call(method, target, o = {}) {
      const k = o.key ?? key;
      const ts = String(Date.now());
      const m = method.toUpperCase();
      let t = (agent as unknown as Record<string, (url: string) => supertest.Test>)[m.toLowerCase()]!(target)
        .set('x-ncp-apigw-timestamp', ts)
        .set('x-ncp-iam-access-key', k.accessKey)
        .set('x-ncp-apigw-signature-v2', signRequest(k.secretKey, m, target, ts, k.accessKey));
      for (const [h, v] of Object.entries(o.headers ?? {})) t = t.set(h, v);
      if (o.body !== undefined) t = t.send(o.body as object);
      return t;
    },
    newKey: (project) => createKey(db.db, box, project),
    workers,
    async stop() {
      await workers?.stop();
      await queue.stop();
      transport.close();
      await blobs.close();
      if (ownsDb) await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a truthy value (returned), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A request's row of the request list once its status is final (not P, R or I), and `also`
 * holds of it; polls for up to 20 s.
 */
export function finishedRequestRow(
  svc: Pick<TestService, 'call'>,
  requestId: string,
  opts: { key?: CreatedKey; also?: (row: any) => boolean } = {},
): Promise<any> {
  return waitFor(
    async () => {
      const row = (await svc.call('GET', `/api/v1/mails/requests?requestId=${requestId}`, { key: opts.key })).body.content?.[0];
      return row && !['P', 'R', 'I'].includes(row.emailStatus.code) && (opts.also?.(row) ?? true) ? row : undefined;
    },
    20_000,
    `request ${requestId} to finish`,
  );
}
