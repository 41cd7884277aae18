// npm run bench:history-send — sending with a large history present.
//
// The same send (one request of BENCH_RECIPIENTS individual recipients, end to end: POST start
// -> the sink has accepted the last recipient) is measured on an empty database and on one
// holding BENCH_HISTORY_RECIPIENTS rows of history (scripts/seed-history.ts), in the same run,
// against the same sink process and the same PostgreSQL server. The service runs as
// `node src/main.ts` in its own process and sends as the history's big project ("history-main"),
// which owns about 60 % of the history. Target: the history figure within 10 % of the empty one.
//
// Environment:
//   BENCH_HISTORY_RECIPIENTS     history rows to seed (default 10000000)
//   BENCH_HISTORY_DATABASE_URL   reuse a database already filled by `npm run seed:history`
//                                (seeding 10M takes minutes); the empty database is created
//                                next to it on the same server (needs CREATEDB) and dropped after
//   BENCH_RECIPIENTS             recipients of the measured request (default 20000)
//   BENCH_ROUNDS                 measurements per database, alternating (default 2; the best counts)
//   BENCH_CONNECTIONS            SMTP connections of the service (default 4)
//   BENCH_TIMEOUT_S              bound of each end-to-end wait (default 900)
//   BENCH_LOG_LEVEL              the service's LOG_LEVEL (default warn)
// Exit status: 1 when a recipient is lost or not final, or the run could not be carried out;
// a missed target is reported, not failed.
import crypto from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import { connectDb } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createSecretBox } from '../src/shared/secret-box.ts';
import { seedHistory } from '../scripts/seed-history.ts';
import { benchLog, fmtInt, intEnv, printSummary, sleep } from './helpers.ts';
import {
  createCleanups,
  runMain,
  sendAndMeasure,
  signedCall,
  startBenchPostgres,
  startServiceProcess,
  startSinkProcess,
  type ApiKey,
  type SendMeasurement,
  type SinkProcess,
} from './send-run.ts';

const HISTORY = intEnv('BENCH_HISTORY_RECIPIENTS', 10_000_000);
const N = intEnv('BENCH_RECIPIENTS', 20_000);
const ROUNDS = intEnv('BENCH_ROUNDS', 2);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 4);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const REUSE_URL = process.env.BENCH_HISTORY_DATABASE_URL || undefined;
const MAIN_PROJECT = 'history-main';

const log = benchLog('history-bench');
const cleanups = createCleanups(log);

const BODY = `<html><body style="font-family:Arial,sans-serif"><h1>Hello #{RECIPIENT_NAME},</h1>
<p>Your order <strong>\${CODE}</strong> has left our warehouse. The total charged is <strong>\${AMOUNT} KRW</strong>.
You will receive another message when the parcel is out for delivery. If anything looks wrong, reply to this mail.</p>
<p>Follow the parcel on the <a href="https://shop.example.com/orders/\${CODE}">order page</a>. Returns are free within 30 days.</p>
<p>Thank you for shopping with us.<br>The Example Shop team</p></body></html>`;

function requestBody(prefix: string, n: number): string {
  const recipients = Array.from({ length: n }, (_, i) => ({
    address: `${prefix}${i}@example.com`,
    name: `User ${i}`,
    type: 'R',
    parameters: { CODE: `ORD-${String(i).padStart(7, '0')}`, AMOUNT: String(10_000 + ((i * 7919) % 990_000)) },
  }));
  return JSON.stringify({
    senderAddress: 'no_reply@shop.example.com',
    senderName: 'Example Shop',
    title: 'Your order ${CODE} has shipped',
    body: BODY,
    individual: true,
    recipients,
  });
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(url: string, text: string): Promise<void> {
  const dbh = connectDb(url, { max: 1 });
  try {
    await sql.raw(text).execute(dbh.db);
  } finally {
    await dbh.close();
  }
}

/** Migrates, and gives the service a key of the big project (created if missing) sealed under `masterKey`. */
async function prepare(url: string, masterKey: Buffer): Promise<{ key: ApiKey; recipients: number }> {
  const dbh = connectDb(url, { max: 2 });
  try {
    await migrateToLatest(dbh.db);
    const key = await createKey(dbh.db, createSecretBox(masterKey), MAIN_PROJECT);
    const n = await sql<{ n: string }>`SELECT count(*) AS n FROM recipients`.execute(dbh.db);
    return { key, recipients: Number(n.rows[0]!.n) };
  } finally {
    await dbh.close();
  }
}

/** One measured send on `url`: a service process of its own, a warm-up request, then the measured one, checked to the last recipient. */
async function measure(label: string, url: string, key: ApiKey, masterKey: Buffer, sink: SinkProcess, failures: string[]): Promise<SendMeasurement> {
  const service = await startServiceProcess(cleanups, {
    smtpPort: sink.port,
    connections: CONNECTIONS,
    log,
    databaseUrl: url,
    env: { MASTER_KEY: masterKey.toString('hex') },
  });
  try {
    const prefix = `${label.replace(/\W/g, '')}-${crypto.randomBytes(3).toString('hex')}-`;
    await sendAndMeasure({ service, sink, key, n: 50, label: `${label} warm-up`, body: requestBody(`${prefix}w`, 50), timeoutMs: TIMEOUT_MS, log });
    const m = await sendAndMeasure({ service, sink, key, n: N, label, body: requestBody(prefix, N), timeoutMs: TIMEOUT_MS, log });
    log(`${label}: ${fmtInt(m.rate)} mails/s (${m.seconds.toFixed(1)} s)`);
    if (m.unique < N) failures.push(`${label}: the sink saw ${m.unique} of ${N} recipients`);
    // Every recipient final and sent, as the API tells it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await signedCall(service.baseUrl, key, 'GET', `/api/v1/mails/requests/${m.requestId}/status`);
      if (st.status === 200 && st.json.finishCount === st.json.requestCount) {
        const notSent = (st.json.countsByStatus as { status: { code: string }; count: number }[]).filter((c) => c.status.code !== 'S' && c.count > 0);
        if (notSent.length) failures.push(`${label}: not all sent: ${JSON.stringify(notSent)}`);
        break;
      }
      if (Date.now() > deadline) {
        failures.push(`${label}: request ${m.requestId} not final 60 s after the last mail (${JSON.stringify(st.json)})`);
        break;
      }
      await sleep(500);
    }
    return m;
  } finally {
    await service.stop();
  }
}

async function main(): Promise<number> {
  log(
    `history send benchmark: ${fmtInt(N)} recipients per send, history ${REUSE_URL ? 'reused' : fmtInt(HISTORY) + ' recipients'}, ${CONNECTIONS} SMTP connections, ${ROUNDS} round(s), ${os.cpus().length} CPUs`,
  );
  const sink = await startSinkProcess(cleanups);

  const historyUrl = REUSE_URL ?? (await startBenchPostgres(cleanups, 'mailer-history-bench-', 'bench_history'));
  const emptyName = `bench_empty_${crypto.randomBytes(4).toString('hex')}`;
  await adminQuery(historyUrl, `CREATE DATABASE ${emptyName}`);
  cleanups.add(() => adminQuery(historyUrl, `DROP DATABASE IF EXISTS ${emptyName} WITH (FORCE)`));
  const emptyUrl = withDatabase(historyUrl, emptyName);

  const masterKey = crypto.randomBytes(32);
  let seedLine = 'history reused (BENCH_HISTORY_DATABASE_URL)';
  if (!REUSE_URL) {
    const dbh = connectDb(historyUrl, { max: 2 });
    try {
      await migrateToLatest(dbh.db);
      const seeded = await seedHistory(dbh.db, { recipients: HISTORY, log });
      seedLine = `history seeded: ${fmtInt(seeded.recipients)} recipients, ${fmtInt(seeded.mails)} mails, ${fmtInt(seeded.requests)} requests in ${seeded.seconds.toFixed(1)} s (${fmtInt(seeded.recipientsPerSecond)} recipients/s)`;
      log(seedLine);
    } finally {
      await dbh.close();
    }
  }
  const empty = await prepare(emptyUrl, masterKey);
  const history = await prepare(historyUrl, masterKey);
  if (history.recipients === 0) throw new Error('the history database holds no recipients');
  log(`history database: ${fmtInt(history.recipients)} recipient rows`);

  const failures: string[] = [];
  const results = { empty: [] as SendMeasurement[], history: [] as SendMeasurement[] };
  for (let round = 1; round <= ROUNDS; round++) {
    results.empty.push(await measure(`empty #${round}`, emptyUrl, empty.key, masterKey, sink, failures));
    results.history.push(await measure(`history #${round}`, historyUrl, history.key, masterKey, sink, failures));
  }
  const best = (ms: SendMeasurement[]) => Math.max(...ms.map((m) => m.rate));
  const ratio = best(results.history) / best(results.empty);
  const lines = [
    '',
    `history send benchmark (${fmtInt(N)} individual recipients per send, ${CONNECTIONS} SMTP connections, node ${process.version}, ${os.cpus().length} CPUs)`,
    `  ${seedLine}`,
    `  empty database:          ${fmtInt(best(results.empty)).padStart(6)} mails/s  (rounds: ${results.empty.map((m) => fmtInt(m.rate)).join(', ')})`,
    `  ${fmtInt(history.recipients)} history rows: ${fmtInt(best(results.history)).padStart(6)} mails/s  (rounds: ${results.history.map((m) => fmtInt(m.rate)).join(', ')})`,
    `  ratio history/empty:     ${ratio.toFixed(3)}  (target >= 0.90: ${ratio >= 0.9 ? 'ok' : 'MISSED'})`,
  ];
  return printSummary(lines, failures);
}

await runMain(main, cleanups, log);
