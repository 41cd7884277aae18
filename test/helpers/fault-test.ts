// Fault-injection scenarios against the real service process (test/integration/faults.test.ts,
// many-workers.test.ts): a test's own children, databases and sinks, released however it ends,
// and the checks they share (recipient statuses, what the SMTP sink received, claims held).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, it } from '@jest/globals';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDb } from '../../src/db/embedded.ts';
import { RECORD_GROUP, inFlightPerLoop } from '../../src/modules/delivery/delivery-settings.ts';
import { parseNumericId } from '../../src/shared/ids.ts';
import { freePort, sleep, startServiceProcess, stopAllServiceProcesses, type ServiceProcess, type ServiceProcessOptions } from './service-process.ts';
import { startTestSink, type TestSink } from './smtp-sink.ts';
import { createTestDb } from './test-db.ts';

// ---------- per-test resources, always released ----------

export interface Ctx {
  children: ServiceProcess[];
  cleanups: (() => Promise<unknown>)[];
  start(opts: ServiceProcessOptions): Promise<ServiceProcess>;
  defer(fn: () => Promise<unknown>): void;
}

let current: Ctx | undefined;

async function releaseCtx(ctx: Ctx) {
  // Children first (they hold connections to the databases and the sink), then the rest in reverse.
  await Promise.all(ctx.children.map((c) => c.stop(0).catch(() => undefined)));
  for (const fn of ctx.cleanups.splice(0).reverse()) await fn().catch((err) => console.warn('cleanup failed:', (err as Error).message));
}

/** A test with its own resources: children and cleanups are released however it ends; on failure the children's logs are printed. */
export function faultTest(name: string, timeoutMs: number, body: (ctx: Ctx) => Promise<void>) {
  it(
    name,
    async () => {
      const ctx: Ctx = {
        children: [],
        cleanups: [],
        async start(opts) {
          const p = await startServiceProcess(opts);
          ctx.children.push(p);
          return p;
        },
        defer(fn) {
          ctx.cleanups.push(fn);
        },
      };
      current = ctx;
      try {
        await body(ctx);
      } catch (err) {
        for (const c of ctx.children) console.log(`---- ${c.name} (pid ${c.pid}) output, last lines ----\n${c.tail(150)}`);
        throw err;
      } finally {
        await releaseCtx(ctx);
        current = undefined;
      }
    },
    timeoutMs,
  );
}

/** Registers the hooks that release a timed-out test's resources and every child; call once at the top of a test file. */
export function useFaultTests() {
  afterEach(async () => {
    // A test that timed out is still running its body: take its resources away now.
    if (current) await releaseCtx(current);
    await stopAllServiceProcesses();
  });
  afterAll(async () => {
    await stopAllServiceProcesses();
  });
}

// ---------- helpers ----------

export type Queryable = Pick<pg.Pool, 'query'>;

export function recipientsOf(prefix: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({ address: `${prefix}${i}@example.com` }));
}

export async function postRequest(svc: ServiceProcess, recipients: { address: string }[]): Promise<{ publicId: string; id: string }> {
  const res = await svc.call('POST', '/api/v1/mails', {
    senderAddress: 'noreply@company.com',
    title: 'Fault test',
    body: '<p>hello</p>',
    recipients,
    individual: true,
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/mails answered ${res.status}: ${res.text.slice(0, 500)}`);
  const publicId = res.body.requestId as string;
  return { publicId, id: parseNumericId(publicId)!.seq.toString() };
}

export interface Snapshot {
  request: string | undefined;
  byStatus: Record<string, number>;
  total: number;
}

export async function snapshot(db: Queryable, id: string): Promise<Snapshot> {
  const req = await db.query<{ status: string }>('SELECT status FROM mail_requests WHERE id = $1', [id]);
  const rows = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM recipients WHERE request_id = $1 GROUP BY status', [id]);
  const byStatus = Object.fromEntries(rows.rows.map((r) => [r.status, r.n]));
  return { request: req.rows[0]?.status, byStatus, total: rows.rows.reduce((a, r) => a + r.n, 0) };
}

export const isFinal = (s: Snapshot, n: number) =>
  s.total === n && !s.byStatus.R && !s.byStatus.I && s.request !== undefined && !['P', 'R', 'I'].includes(s.request);

/**
 * Polls until every one of the n recipients and the request are final; query errors (database
 * down) are retried. Fails at once if one of `watch` (the service processes doing the work) exits.
 */
export async function waitFinal(db: Queryable, id: string, n: number, timeoutMs: number, what = 'request', watch: ServiceProcess[] = []): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  let last: Snapshot | undefined;
  let lastErr: string | undefined;
  for (;;) {
    const dead = watch.find((p) => p.exitInfo());
    if (dead) {
      const e = dead.exitInfo()!;
      throw new Error(
        `${dead.name} (pid ${dead.pid}) exited (code ${e.code}, signal ${e.signal}) while waiting for the ${what} to finish; last seen ${JSON.stringify(last)}`,
      );
    }
    try {
      last = await snapshot(db, id);
      lastErr = undefined;
      if (isFinal(last, n)) return last;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not final within ${timeoutMs} ms: last seen ${JSON.stringify(last)}${lastErr ? `, last error: ${lastErr}` : ''}`);
    }
    await sleep(250);
  }
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** How often the sink accepted each envelope address. */
export function receivedCounts(sink: TestSink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of sink.messages) for (const a of m.to) counts.set(a, (counts.get(a) ?? 0) + 1);
  return counts;
}

export function duplicatesOf(counts: Map<string, number>): string[] {
  return [...counts].filter(([, n]) => n > 1).map(([a]) => a);
}

export function missingOf(counts: Map<string, number>, recipients: { address: string }[]): string[] {
  return recipients.filter((r) => !counts.has(r.address)).map((r) => r.address);
}

export async function heldClaims(db: Queryable, id: string): Promise<{ held: number; heldLive: number; pending: number }> {
  const r = await db.query<{ held: number; held_live: number; pending: number }>(
    `SELECT count(*) FILTER (WHERE lease_token IS NOT NULL)::int AS held,
            count(*) FILTER (WHERE lease_token IS NOT NULL AND lease_until > now())::int AS held_live,
            count(*) FILTER (WHERE status IN ('R', 'I'))::int AS pending
     FROM mails WHERE request_id = $1`,
    [id],
  );
  return { held: r.rows[0]!.held, heldLive: r.rows[0]!.held_live, pending: r.rows[0]!.pending };
}

/** Addresses of recipients recorded as sent (S). */
export async function sentAddresses(db: Queryable, id: string): Promise<Set<string>> {
  const r = await db.query<{ address: string }>(`SELECT address FROM recipients WHERE request_id = $1 AND status = 'S'`, [id]);
  return new Set(r.rows.map((x) => x.address));
}

export async function newTestDb(ctx: Ctx) {
  const db = await createTestDb();
  ctx.defer(() => db.drop());
  return db;
}

export async function newSink(ctx: Ctx) {
  const sink = await startTestSink();
  ctx.defer(() => sink.close());
  return sink;
}

export interface OwnPostgres {
  url: string;
  /** a small pool of the test's own (idle clients that die with the server are replaced) */
  pool: pg.Pool;
  /** stops the server (a fast shutdown: its sessions are cut) */
  stop(): Promise<void>;
  /** starts it again on the same data and port */
  start(): Promise<void>;
}

/**
 * A PostgreSQL server of the test's own, which it may stop and start: never the run's shared one
 * (DATABASE_URL's server in CI's second pass). Empty; the service migrates it at start.
 */
export async function startOwnPostgres(ctx: Ctx): Promise<OwnPostgres> {
  const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-fault-pg-'));
  fs.chmodSync(pgDir, 0o777);
  ctx.defer(async () => fs.rmSync(pgDir, { recursive: true, force: true }));
  const pgOpts = { dir: path.join(pgDir, 'pg'), database: 'mailer', port: await freePort() };
  let server: EmbeddedDb | undefined = await startEmbeddedPostgres(pgOpts);
  ctx.defer(async () => server?.stop());
  const url = server.url;
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 2_000 });
  pool.on('error', () => undefined);
  ctx.defer(() => pool.end());
  return {
    url,
    pool,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      server ??= await startEmbeddedPostgres(pgOpts);
    },
  };
}

/**
 * Stops the test's PostgreSQL, asks `api` something while it is down (the answer is returned),
 * and starts it again no sooner than `downMs` after it stopped.
 */
export async function restartPostgres(server: OwnPostgres, api: ServiceProcess, downMs = 2_000) {
  const stoppedAt = Date.now();
  await server.stop();
  const downAt = Date.now();
  const whileDown = await api.call('GET', '/api/v1/mails/requests?size=1');
  await sleep(Math.max(0, downMs - (Date.now() - downAt)));
  await server.start();
  return { stoppedAt, downAt, upAt: Date.now(), whileDown };
}

/**
 * A sending process for the SIGKILL tests: its settings (debug logs, for the 'delivery batch
 * done' lines), and what killing it may make go out twice: each claim loop's mails with the
 * transport and one record group, sent and not yet recorded (send-batch.ts, result-recorder.ts).
 */
export function killableSender(smtpConnections: number, loops: number) {
  const inFlight = inFlightPerLoop(smtpConnections, loops);
  return {
    env: { SMTP_MAX_CONNECTIONS: String(smtpConnections), WORKER_CONCURRENCY: String(loops), RETRY_BASE_DELAY_MS: '300', LOG_LEVEL: 'debug' },
    duplicateBound: (inFlight + RECORD_GROUP) * loops,
    /** how the bound is made, for the printed figures */
    boundText: `(in flight ${inFlight} + record group ${RECORD_GROUP}) x ${loops} loops`,
  };
}
