// The webhook benchmark: deliveries/s from the outbox to a receiver on loopback.
//
// An embedded PostgreSQL of its own, migrated; a project with one endpoint (all recipient events)
// pointing at an HTTP receiver in this process; N sent recipients seeded straight into the tables
// (test/helpers/seed-rows.ts) and N recipient.sent events in the outbox, written by the same SQL
// the delivery path uses. The webhook worker (src/modules/webhooks/webhook-worker.ts: claims,
// payloads from the recipient view, Standard Webhooks signatures, keep-alive POSTs, one
// recording statement per batch) then runs until every delivery is recorded delivered. Same run,
// same receiver: the baseline of N plain `fetch` POSTs of the same payloads at the same
// concurrency, and the ratio. Also measured: what the outbox costs recording a batch of 1,000
// recipients of a project without endpoints (the hot path for everyone else), against the same
// UPDATE without it.
// Target (issue 15): >= 1,000 deliveries/s.
//
// Environment:
//   BENCH_WEBHOOK_DELIVERIES   deliveries (default 20000)
//   BENCH_WEBHOOK_CONCURRENCY  WEBHOOK_CONCURRENCY and the baseline's concurrency (default 64)
// Exit status: 1 when a delivery is missing or the run could not be carried out; a missed target
// is reported, not failed.
import crypto from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { connectDb } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createWebhookWorker } from '../src/modules/webhooks/webhook-worker.ts';
import { createWebhook, emitWebhookEvents, webhookOutboxInsert } from '../src/modules/webhooks/webhooks.service.ts';
import { createSecretBox } from '../src/shared/secret-box.ts';
import { seedSentHistory } from '../test/helpers/seed-rows.ts';
import { benchLog, fmtInt, intEnv, percentile, printSummary, sleep } from './helpers.ts';
import { createCleanups, runMain, startBenchPostgres } from './send-run.ts';

const N = intEnv('BENCH_WEBHOOK_DELIVERIES', 20_000);
const CONCURRENCY = intEnv('BENCH_WEBHOOK_CONCURRENCY', 64);
const TARGET = 1_000;

const log = benchLog('webhooks-bench');
const cleanups = createCleanups(log);

async function startReceiver(): Promise<{ url: string; count: () => number }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.add(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    'receiver',
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, count: () => n };
}

async function main(): Promise<number> {
  log(`webhook benchmark: ${fmtInt(N)} deliveries, concurrency ${CONCURRENCY}, ${os.cpus().length} CPUs, node ${process.version}`);
  const url = await startBenchPostgres(cleanups, 'mailer-webhooks-bench-', 'mailer');
  const dbh = connectDb(url, { max: 10 });
  cleanups.add(() => dbh.close(), 'pool');
  await migrateToLatest(dbh.db);
  const config = loadConfig({ DATABASE_URL: url, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'warn' });
  const box = createSecretBox(crypto.randomBytes(32));
  const deps = { config, db: dbh.db, logger: createLogger('warn'), now: () => new Date() };

  // Another project has an endpoint: the join is not against an empty table.
  const receiver = await startReceiver();
  const key = await createKey(dbh.db, box, 'bench');
  await createWebhook(deps, box, key.projectId, { url: receiver.url, events: ['recipient.sent'] });
  // What the outbox costs a project without endpoints: recording 1,000 recipients' results with
  // the statement the delivery path uses (the outbox insert as a CTE) against the same UPDATE
  // without it, alternating, 40 times each.
  const idle = await createKey(dbh.db, box, 'no-endpoints');
  await seedSentHistory(dbh.pool, { projectId: idle.projectId, recipients: 1000, perRequest: 1000 });
  const idleIds = (await sql<{ id: string }>`SELECT id FROM recipients WHERE project_id = ${idle.projectId}`.execute(dbh.db)).rows.map((r) => String(r.id));
  const update = (n: number) =>
    sql`UPDATE recipients r SET status = 'S', result_message = u.message FROM unnest(${idleIds}::bigint[], ${idleIds.map(() => `250 ok ${n}`)}::text[]) AS u(id, message)
      WHERE r.id = u.id RETURNING r.id, r.project_id, r.status`;
  const plainMs: number[] = [];
  const withOutboxMs: number[] = [];
  for (let i = 0; i < 80; i++) {
    const t = performance.now();
    if (i % 2)
      await sql`WITH updated AS (${update(i)}) ${webhookOutboxInsert(sql`SELECT project_id, 'recipient.sent' AS event_type, id AS subject_id FROM updated`)}`.execute(
        dbh.db,
      );
    else await update(i).execute(dbh.db);
    (i % 2 ? withOutboxMs : plainMs).push(performance.now() - t);
  }
  plainMs.sort((a, b) => a - b);
  withOutboxMs.sort((a, b) => a - b);
  const outboxRows = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM webhook_deliveries`.execute(dbh.db)).rows[0]!.n);

  log('seeding recipients…');
  await seedSentHistory(dbh.pool, { projectId: key.projectId, recipients: N, perRequest: 1000 });
  const ids = (await sql<{ id: string }>`SELECT id FROM recipients WHERE project_id = ${key.projectId} ORDER BY id`.execute(dbh.db)).rows.map((r) =>
    String(r.id),
  );
  for (let i = 0; i < ids.length; i += 5000)
    await emitWebhookEvents(
      dbh.db,
      ids.slice(i, i + 5000).map((id) => ({ projectId: key.projectId, type: 'recipient.sent', subjectId: id })),
    );
  log(`${fmtInt(ids.length)} deliveries in the outbox; sending`);

  const worker = createWebhookWorker({ ...deps, box });
  const t0 = performance.now();
  worker.start();
  let delivered = 0;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    delivered = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'S'`.execute(dbh.db)).rows[0]!.n);
    if (delivered >= ids.length) break;
    await sleep(100);
  }
  const workerS = (performance.now() - t0) / 1000;
  await worker.stop();
  const rate = delivered / workerS;
  log(`worker: ${fmtInt(delivered)} delivered in ${workerS.toFixed(2)} s = ${fmtInt(rate)}/s (receiver saw ${fmtInt(receiver.count())})`);

  // Baseline: the same payloads, plain fetch, same concurrency, same receiver.
  const payloads = (await sql<{ payload: string }>`SELECT payload FROM webhook_deliveries WHERE status = 'S' ORDER BY id`.execute(dbh.db)).rows.map(
    (r) => r.payload,
  );
  let next = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < payloads.length) {
        const body = payloads[next++]!;
        const res = await fetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.text();
      }
    }),
  );
  const baseS = (performance.now() - t1) / 1000;
  const baseRate = payloads.length / baseS;
  log(`baseline: ${fmtInt(payloads.length)} fetch POSTs in ${baseS.toFixed(2)} s = ${fmtInt(baseRate)}/s`);

  const failures: string[] = [];
  if (delivered < ids.length) failures.push(`only ${delivered} of ${ids.length} deliveries were delivered`);
  if (outboxRows !== 0) failures.push(`a project without endpoints wrote ${outboxRows} outbox rows`);
  return printSummary(
    [
      `deliveries:        ${fmtInt(delivered)} of ${fmtInt(ids.length)} (payload ~${fmtInt(payloads[0]?.length ?? 0)} bytes, signed)`,
      `webhook worker:    ${fmtInt(rate)} deliveries/s (target >= ${fmtInt(TARGET)}/s: ${rate >= TARGET ? 'met' : 'MISSED'})`,
      `plain fetch:       ${fmtInt(baseRate)} POSTs/s`,
      `ratio:             ${(rate / baseRate).toFixed(2)} x plain fetch`,
      `recording 1,000 results, project without endpoints: median ${percentile(withOutboxMs, 0.5).toFixed(2)} ms with the outbox CTE, ${percentile(plainMs, 0.5).toFixed(2)} ms without (p95 ${percentile(withOutboxMs, 0.95).toFixed(2)} / ${percentile(plainMs, 0.95).toFixed(2)} ms; ${outboxRows} outbox rows written)`,
    ],
    failures,
  );
}

await runMain(main, cleanups, log);
