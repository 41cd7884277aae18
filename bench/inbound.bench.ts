// npm run bench:inbound — bounces parsed and applied per second by the inbound listener.
//
// An embedded PostgreSQL of its own, migrated, with a history of BENCH_INBOUND_HISTORY recipients
// (scripts/seed-history.ts, default 10,000,000: the condition) in other projects, and
// BENCH_INBOUND_DSNS sent recipients of the benchmark's project (test/helpers/seed-rows.ts). The
// listener (src/modules/feedback/inbound-server.ts) runs in this process; a pooled nodemailer
// client in a process of its own (bench/inbound-client.ts, as a sending MTA would be) with BENCH_INBOUND_CONNECTIONS connections sends one Postfix-shaped hard-bounce DSN per
// recipient to its VERP return path, as an MTA would (null sender). Every report is parsed,
// applied (the recipient fails, its mail and request roll up, the address is blocked) and
// committed before its 250. Then every recipient is checked to be a hard bounce.
// Baseline, same run, same client and messages: an smtp-server that only reads and parses each
// message with mailparser (no database), and the ratio.
// Target (issue 15): >= 500 DSNs/s applied.
//
// Environment:
//   BENCH_INBOUND_DSNS          reports to send (default 20000)
//   BENCH_INBOUND_CONNECTIONS   client connections (default 16)
//   BENCH_INBOUND_HISTORY       history recipients seeded first (default 10000000; 0: none)
//   BENCH_INBOUND_DATABASE_URL  reuse a database filled by `npm run seed:history` (migrated here)
// Exit status: 1 when a report is missing or the run could not be carried out; a missed target
// is reported, not failed.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import os from 'node:os';
import { sql } from 'kysely';
import { SMTPServer } from 'smtp-server';
import { seedHistory } from '../scripts/seed-history.ts';
import { loadConfig } from '../src/config.ts';
import { connectDb } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { verpKeyFor } from '../src/modules/feedback/feedback.service.ts';
import { startInboundServer } from '../src/modules/feedback/inbound-server.ts';
import { parseReport } from '../src/modules/feedback/parse-report.ts';
import { verpAddress } from '../src/modules/feedback/verp.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createSecretBox } from '../src/shared/secret-box.ts';
import { listenSmtp } from '../src/shared/smtp-listener.ts';
import { BOUNCE_DOMAIN, fixture } from '../test/fixtures/feedback/index.ts';
import { seedSentHistory } from '../test/helpers/seed-rows.ts';
import { benchLog, fmtInt, intEnv, printSummary } from './helpers.ts';
import { createCleanups, runMain, startBenchPostgres, tempDir } from './send-run.ts';

const N = intEnv('BENCH_INBOUND_DSNS', 20_000);
const CONNECTIONS = intEnv('BENCH_INBOUND_CONNECTIONS', 16);
const HISTORY = intEnv('BENCH_INBOUND_HISTORY', 10_000_000, 0);
const REUSE_URL = process.env.BENCH_INBOUND_DATABASE_URL;
const TARGET = 500;

const execFileAsync = promisify(execFile);
const log = benchLog('inbound-bench');
const cleanups = createCleanups(log);

/** Sends every message to its address from the client process (bench/inbound-client.ts); seconds taken. */
async function sendAll(port: number, file: string): Promise<{ seconds: number; refused: number }> {
  const { stdout } = await execFileAsync(process.execPath, [path.join(import.meta.dirname, 'inbound-client.ts'), file, String(port), String(CONNECTIONS)], {
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number; refused: number };
}

async function main(): Promise<number> {
  log(`inbound benchmark: ${fmtInt(N)} DSNs, ${CONNECTIONS} connections, ${os.cpus().length} CPUs, node ${process.version}`);
  const url = REUSE_URL ?? (await startBenchPostgres(cleanups, 'mailer-inbound-bench-', 'mailer'));
  const dbh = connectDb(url, { max: 10 });
  cleanups.add(() => dbh.close(), 'pool');
  await migrateToLatest(dbh.db);
  let historyLine = 'history reused (BENCH_INBOUND_DATABASE_URL)';
  if (!REUSE_URL && HISTORY > 0) {
    log(`seeding a history of ${fmtInt(HISTORY)} recipients (minutes for 10 million)…`);
    const seeded = await seedHistory(dbh.db, { recipients: HISTORY, log });
    historyLine = `history: ${fmtInt(seeded.recipients)} recipients seeded in ${seeded.seconds.toFixed(0)} s`;
  } else if (!REUSE_URL) historyLine = 'no history (BENCH_INBOUND_HISTORY=0)';
  log(historyLine);

  const dataDir = tempDir(cleanups, 'mailer-inbound-data-');
  const config = loadConfig({ DATABASE_URL: url, DATA_DIR: dataDir, BOUNCE_DOMAIN, LOG_LEVEL: 'warn' });
  const key = await createKey(dbh.db, createSecretBox(crypto.randomBytes(32)), `inbound-bench-${Date.now()}`);
  await seedSentHistory(dbh.pool, { projectId: key.projectId, recipients: N, perRequest: 1000 });
  const rows = (await sql<{ id: string; address: string }>`SELECT id, address FROM recipients WHERE project_id = ${key.projectId} ORDER BY id`.execute(dbh.db))
    .rows;
  const verpKey = verpKeyFor(config);
  const messages = rows.map((r) => {
    const to = verpAddress(verpKey, BOUNCE_DOMAIN, String(r.id));
    return { to, raw: fixture('postfix-hard-5.1.1', { token: to.slice(2, to.indexOf('@')), rcpt: r.address }) };
  });
  const file = path.join(dataDir, 'reports.jsonl');
  fs.writeFileSync(file, messages.map((m) => JSON.stringify({ to: m.to, raw: m.raw.toString('base64') })).join('\n'));
  log(`${fmtInt(messages.length)} reports built (${messages[0]!.raw.length} bytes each); the client runs in a process of its own`);

  // Baseline: parse only.
  let parsed = 0;
  const plain = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      const parts: Buffer[] = [];
      stream.on('data', (b: Buffer) => parts.push(b));
      stream.on('end', () => {
        parseReport(Buffer.concat(parts)).then(
          (r) => {
            if (r.kind === 'dsn') parsed++;
            callback();
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  const plainListener = await listenSmtp(plain, '127.0.0.1', 0);
  cleanups.add(() => plainListener.close(), 'baseline listener');
  const base = await sendAll(plainListener.port, file);
  await plainListener.close();
  const baseRate = parsed / base.seconds;
  log(`baseline (parse only): ${fmtInt(parsed)} in ${base.seconds.toFixed(2)} s = ${fmtInt(baseRate)}/s`);

  const inbound = await startInboundServer({ config, db: dbh.db, logger: createLogger('warn'), now: () => new Date() }, { host: '127.0.0.1', port: 0 });
  cleanups.add(() => inbound.close(), 'inbound listener');
  const run = await sendAll(inbound.port, file);
  const applied = Number(
    (await sql<{ n: string }>`SELECT count(*) AS n FROM recipients WHERE project_id = ${key.projectId} AND bounce_type = 'H' AND status = 'F'`.execute(dbh.db))
      .rows[0]!.n,
  );
  const rate = applied / run.seconds;
  log(`listener: ${fmtInt(applied)} applied in ${run.seconds.toFixed(2)} s = ${fmtInt(rate)}/s (${run.refused} refused)`);

  const failures: string[] = [];
  if (applied !== N) failures.push(`${N - applied} of ${N} reports were not applied`);
  return printSummary(
    [
      'inbound benchmark (npm run bench:inbound)',
      `  ${historyLine}`,
      `  ${fmtInt(N)} Postfix hard-bounce DSNs over ${CONNECTIONS} connections`,
      `  listener, parsed + applied + committed: ${fmtInt(rate)} DSNs/s  (target >= ${TARGET}: ${rate >= TARGET ? 'met' : 'MISSED'})`,
      `  baseline, parse only (same client, no database): ${fmtInt(baseRate)} DSNs/s`,
      `  ratio listener / baseline: ${(rate / baseRate).toFixed(2)}`,
    ],
    failures,
  );
}

void runMain(main, cleanups, log);
