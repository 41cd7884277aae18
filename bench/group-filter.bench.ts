// The group-filter benchmark: how fast a recipientGroupFilter request is expanded into mails.
//
// The service runs as `node src/main.ts` in its own process (embedded Postgres). Two address-book
// groups of 1,000,000 and 500,000 addresses that share 250,000 are built directly in the database
// with SQL; then, through the HTTP API and with `confirmAndSend: true` (so nothing is sent), one
// request with an AND filter and one with an OR filter over them. For each: the time from the
// POST to the request leaving P (all mails and recipients stored) and recipients/s; then the same
// for a request sent to a recipient file of 100,000 rows (its rows inserted with SQL, as the upload
// leaves them). Groups and files are stored in STORE_PARALLELISM parts at once (the service's
// setting, taken from the bench's environment; printed). Baseline, same run: the JSON payload
// path storing a request of 100,000 listed recipients the same way (POST to leaving P, one
// batch at a time), and the ratio. Target (issue 17): >= 80,000 recipients/s for AND, OR and the
// file. Each case also prints the CPU time PostgreSQL (every backend, from /proc) and the
// service used a recipient, from its POST until its store job ended (a job goes on after
// its request left P: src/modules/requests/partition-statistics.ts); each case starts once the
// job before has ended.
//
// Environment:
//   BENCH_GROUP_A           addresses of the first group (default 1000000)
//   BENCH_GROUP_B           addresses of the second group (default 500000)
//   BENCH_GROUP_OVERLAP     addresses in both (default 250000)
//   BENCH_BASELINE_RECIPIENTS  recipients of the payload request (default 100000)
//   BENCH_FILE_ROWS         rows of the recipient file (default 100000, the most an upload may hold)
//   STORE_PARALLELISM       the service's parts stored at once (its default when unset)
//   BENCH_EXPLAIN=1         print EXPLAIN ANALYZE of the first expansion batch of AND and OR
//   BENCH_TIMEOUT_S         bound of each wait (default 900)
//   BENCH_LOG_LEVEL         the service's LOG_LEVEL (default warn)
//   BENCH_DATABASE_URL      run the service against this PostgreSQL instead of an embedded one (must be empty of mail)
// Exit status: 1 when a stored count is wrong (AND must store exactly the overlap, OR the union,
// each address once) or the run could not be carried out; a missed target is reported, not failed.
import crypto from 'node:crypto';
import pg from 'pg';
import { connectDb } from '../src/db/connect.ts';
import { combinationPage, firstSharedId } from '../src/modules/address-book/address-book.read-model.ts';
import { benchLog, fmtInt, intEnv, processCpu, sleep, treeCpu, wallNow } from './helpers.ts';
import { createCleanups, randomApiKey, runMain, signedCall, startServiceProcess, type ServiceProcess } from './send-run.ts';

const A = intEnv('BENCH_GROUP_A', 1_000_000);
const B = intEnv('BENCH_GROUP_B', 500_000);
const OVERLAP = intEnv('BENCH_GROUP_OVERLAP', 250_000, 0);
const BASELINE_N = intEnv('BENCH_BASELINE_RECIPIENTS', 100_000);
const FILE_ROWS = intEnv('BENCH_FILE_ROWS', 100_000);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const EXPLAIN = process.env.BENCH_EXPLAIN === '1';
const TARGET = 80_000;
if (OVERLAP > Math.min(A, B)) throw new Error('BENCH_GROUP_OVERLAP must not exceed either group');

const KEY = randomApiKey();
const log = benchLog('group-bench');
const cleanups = createCleanups(log);

// No SMTP port: the built-in sink (nothing is sent: every request waits for confirmation).
const startService = () =>
  startServiceProcess(cleanups, { log, key: KEY, dataDirPrefix: 'mailer-group-bench-', databaseUrl: process.env.BENCH_DATABASE_URL || undefined });

const api = (baseUrl: string, method: string, target: string, body?: string) => signedCall(baseUrl, KEY, method, target, body);

const MAIL = {
  senderAddress: 'news@company.com',
  title: 'News for #{RECIPIENT_ADDRESS}',
  body: '<p>Hello ${NAME}</p>',
  parameters: { NAME: 'friend' },
  confirmAndSend: true,
};

/**
 * Waits until the request's store-recipients jobs have ended: a store's job goes on after its
 * request has left P (it analyzes the partitions it filled: src/modules/requests/
 * partition-statistics.ts); so its CPU is all counted, and the next case starts on a service done
 * with this one. Its seconds after the POST's start.
 */
async function storeJobsDone(db: pg.Client, requestId: string, t0: number): Promise<number> {
  const pending = () =>
    db.query(`SELECT 1 FROM pgboss.job WHERE name = 'store-recipients' AND data->>'requestId' = $1 AND state IN ('created', 'retry', 'active') LIMIT 1`, [
      requestId,
    ]);
  while ((await pending()).rows.length > 0) {
    if (wallNow() - t0 > TIMEOUT_MS) throw new Error(`request ${requestId}'s store job still running after ${TIMEOUT_MS / 1000} s`);
    await sleep(50);
  }
  return (wallNow() - t0) / 1000;
}

/**
 * POST, then wait for the request to leave P (seconds from the POST's start to that moment) and
 * for its store job to end; CPU used by PostgreSQL and the service meanwhile.
 */
async function storeAndTime(
  service: ServiceProcess,
  db: pg.Client,
  what: string,
  body: object,
): Promise<{ seconds: number; count: number; requestId: string; cpu: { pg: number | undefined; service: number | undefined } }> {
  const cpu = () => ({ pg: service.pgPid ? treeCpu(service.pgPid) : undefined, service: processCpu(service.pid)?.all });
  const cpu0 = cpu();
  const t0 = wallNow();
  const post = await api(service.baseUrl, 'POST', '/api/v1/mails', JSON.stringify(body));
  if (post.status !== 201) throw new Error(`${what}: POST /mails answered ${post.status}: ${JSON.stringify(post.json)}`);
  const postMs = wallNow() - t0;
  const requestId = String(BigInt(String(post.json.requestId).slice(8)));
  let lastLog = performance.now();
  for (;;) {
    const row = (await db.query<{ status: string; stored_count: number }>('SELECT status, stored_count FROM mail_requests WHERE id = $1', [requestId])).rows[0];
    if (row && row.status !== 'P') break;
    if (!service.alive()) throw new Error('the service exited during the run');
    if (wallNow() - t0 > TIMEOUT_MS) throw new Error(`${what}: still P after ${TIMEOUT_MS / 1000} s`);
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log(`${what}: ${fmtInt(row?.stored_count ?? 0)}/${fmtInt(post.json.count)} stored after ${((wallNow() - t0) / 1000).toFixed(0)} s`);
    }
    await sleep(50);
  }
  const seconds = (wallNow() - t0) / 1000;
  // the CPU a store costs includes what its job does after the request left P
  const jobSeconds = await storeJobsDone(db, requestId, t0);
  const cpu1 = cpu();
  log(
    `${what}: POST answered in ${fmtInt(postMs)} ms (count ${fmtInt(post.json.count)}), left P after ${seconds.toFixed(2)} s, its store job ended after ${jobSeconds.toFixed(2)} s`,
  );
  const used = (k: 'pg' | 'service') => (cpu0[k] === undefined || cpu1[k] === undefined ? undefined : cpu1[k]! - cpu0[k]!);
  return { seconds, count: post.json.count as number, requestId, cpu: { pg: used('pg'), service: used('service') } };
}

async function checkStored(db: pg.Client, requestId: string, expected: number, what: string): Promise<boolean> {
  const r = (
    await db.query<{ n: string; addresses: string; seqs: string; status: string; request_count: number }>(
      `SELECT (SELECT count(*) FROM recipients WHERE request_id = $1)::text AS n,
              (SELECT count(DISTINCT lower(address)) FROM recipients WHERE request_id = $1)::text AS addresses,
              (SELECT count(DISTINCT seq) FROM mails WHERE request_id = $1)::text AS seqs,
              status, request_count FROM mail_requests WHERE id = $1`,
      [requestId],
    )
  ).rows[0]!;
  const ok = Number(r.n) === expected && Number(r.addresses) === expected && Number(r.seqs) === expected && r.request_count === expected && r.status === 'R';
  log(
    `${what}: stored ${r.n} recipients (${r.addresses} distinct, ${r.seqs} mails), request_count ${r.request_count}, status ${r.status}; expected ${expected}: ${ok ? 'OK' : 'WRONG'}`,
  );
  return ok;
}

async function buildGroups(db: pg.Client): Promise<void> {
  const projectId = (await db.query<{ project_id: string }>('SELECT project_id FROM access_keys WHERE access_key = $1', [KEY.accessKey])).rows[0]!.project_id;
  const total = A + B - OVERLAP;
  const t = performance.now();
  // Addresses 1..A are group a; A-OVERLAP+1..A-OVERLAP+B group b.
  await db.query(
    `INSERT INTO address_book_addresses (project_id, address) SELECT $1, 'user' || i || '@bench' || (i % 97) || '.example.com' FROM generate_series(1, $2::int) i ORDER BY i`,
    [projectId, total],
  );
  await db.query(`INSERT INTO address_book_groups (project_id, name) VALUES ($1, 'bench-a'), ($1, 'bench-b')`, [projectId]);
  const base = (await db.query<{ min: string }>('SELECT min(id)::text AS min FROM address_book_addresses WHERE project_id = $1', [projectId])).rows[0]!.min;
  await db.query(
    `INSERT INTO address_book_members (group_sid, address_id)
     SELECT g.sid, a.id FROM address_book_groups g JOIN address_book_addresses a ON a.project_id = g.project_id
     WHERE g.project_id = $1 AND ((g.name = 'bench-a' AND a.id - $2 < $3) OR (g.name = 'bench-b' AND a.id - $2 >= $3 - $4))`,
    [projectId, base, A, OVERLAP],
  );
  await db.query('ANALYZE address_book_addresses; ANALYZE address_book_members; ANALYZE address_book_groups');
  log(
    `address book built: groups of ${fmtInt(A)} and ${fmtInt(B)} sharing ${fmtInt(OVERLAP)} (${fmtInt(total)} addresses) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}

/**
 * EXPLAIN ANALYZE of the store's batch queries for a cursor half-way through, built by the
 * service's own code (combinationPage, and for an AND its start, firstSharedId, as
 * src/modules/requests/store-from-groups.ts passes them to an unbounded part), run with the
 * service's session settings (no parallel workers).
 */
async function explain(db: pg.Client, databaseUrl: string): Promise<void> {
  const sids = (await db.query<{ sid: string }>(`SELECT sid::text FROM address_book_groups WHERE name IN ('bench-b', 'bench-a') ORDER BY name DESC`)).rows.map(
    (r) => r.sid,
  );
  const after = (await db.query<{ id: string }>(`SELECT (min(id) + $1::int)::text AS id FROM address_book_addresses`, [Math.floor((A + B - OVERLAP) / 2)]))
    .rows[0]!.id;
  const builder = connectDb(databaseUrl, { max: 1, applicationName: 'group-bench-explain' });
  try {
    const page = async (and: boolean) => combinationPage(sids, and, after, 50_000, null, await firstSharedId(builder.db, sids, and, after)).compile(builder.db);
    await db.query('SET max_parallel_workers_per_gather = 0');
    for (const and of [true, false]) {
      const { sql: text, parameters } = await page(and);
      const plan = await db.query(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, [...parameters]);
      log(`EXPLAIN ANALYZE, an ${and ? 'AND' : 'OR'} batch half-way:\n${plan.rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}`);
    }
    await explainInserts(db, await page(false));
  } finally {
    await db.query('RESET max_parallel_workers_per_gather');
    await builder.close();
  }
}

/** The whole batch statement around a compiled page, rolled back: its inserts' costs. */
async function explainInserts(db: pg.Client, page: { sql: string; parameters: readonly unknown[] }): Promise<void> {
  // as src/modules/requests/store-batches.repository.ts writes it (insertSelectedAddresses)
  const req = (await db.query<{ id: string; project_id: string }>(`SELECT id::text, project_id::text FROM mail_requests ORDER BY id DESC LIMIT 1`)).rows[0];
  if (!req) return;
  await db.query('BEGIN');
  const plan = await db.query(
    `EXPLAIN (ANALYZE, BUFFERS, WAL) WITH src AS MATERIALIZED (
      SELECT c.id, c.address, (0 + row_number() OVER (ORDER BY c.id))::int + 1000000 AS seq,
        nextval('mail_id_seq') AS mail_id, nextval('recipient_ids') AS recipient_id FROM (${page.sql}) c),
    m AS (INSERT INTO mails (id, id_day, request_id, project_id, seq, representative_address, recipient_count, next_attempt_at, created_at)
      SELECT src.mail_id, 20260101, ${req.id}, ${req.project_id}, src.seq, src.address, 1, NULL, now() FROM src),
    r AS (INSERT INTO recipients (id, mail_id, request_id, project_id, address, name, parameters, type, created_at)
      SELECT src.recipient_id, src.mail_id, ${req.id}, ${req.project_id}, src.address, NULL, NULL, 'R', now() FROM src)
    SELECT count(*) FROM src`,
    [...page.parameters],
  );
  await db.query('ROLLBACK');
  log(`EXPLAIN ANALYZE, an OR batch with its inserts:\n${plan.rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}`);
}

/** A recipient file of FILE_ROWS valid rows with one tag, as POST /recipient-files stores one; its id. */
async function buildFile(db: pg.Client): Promise<string> {
  const projectId = (await db.query<{ project_id: string }>('SELECT project_id FROM access_keys WHERE access_key = $1', [KEY.accessKey])).rows[0]!.project_id;
  const id = crypto.randomUUID();
  await db.query(`INSERT INTO recipient_files (id, project_id, file_name, tags, row_count, valid_count) VALUES ($1, $2, 'bench.csv', '{COUPON}', $3, $3)`, [
    id,
    projectId,
    FILE_ROWS,
  ]);
  await db.query(
    `INSERT INTO recipient_file_rows (file_id, pos, row_no, address, name, parameters)
     SELECT $1, i, i + 1, 'file' || i || '@bench' || (i % 97) || '.example.com', 'Name ' || i, jsonb_build_object('COUPON', 'C' || i)
     FROM generate_series(1, $2::int) i`,
    [id, FILE_ROWS],
  );
  await db.query('ANALYZE recipient_file_rows');
  return id;
}

async function main(): Promise<number> {
  const service = await startService();
  const db = new pg.Client({ connectionString: service.databaseUrl });
  await db.connect();
  cleanups.add(() => db.end(), 'database client');
  await buildGroups(db);

  const recipients = Array.from({ length: BASELINE_N }, (_, i) => ({ address: `base${i}@example.com` }));
  const baseline = await storeAndTime(service, db, `baseline (JSON payload of ${fmtInt(BASELINE_N)})`, { ...MAIL, recipients });
  if (EXPLAIN) await explain(db, service.databaseUrl);
  let ok = await checkStored(db, baseline.requestId, BASELINE_N, 'baseline');
  const and = await storeAndTime(service, db, 'AND filter', { ...MAIL, recipientGroupFilter: { andFilter: true, groups: ['bench-a', 'bench-b'] } });
  ok = (await checkStored(db, and.requestId, OVERLAP, 'AND')) && ok;
  const or = await storeAndTime(service, db, 'OR filter', { ...MAIL, recipientGroupFilter: { andFilter: false, groups: ['bench-a', 'bench-b'] } });
  ok = (await checkStored(db, or.requestId, A + B - OVERLAP, 'OR')) && ok;
  const fileId = await buildFile(db);
  const file = await storeAndTime(service, db, `recipient file of ${fmtInt(FILE_ROWS)}`, { ...MAIL, recipientFileId: fileId });
  ok = (await checkStored(db, file.requestId, FILE_ROWS, 'file')) && ok;

  const rate = (n: number, s: number) => n / s;
  const baseRate = rate(BASELINE_N, baseline.seconds);
  const andRate = rate(OVERLAP, and.seconds);
  const orRate = rate(A + B - OVERLAP, or.seconds);
  const fileRate = rate(FILE_ROWS, file.seconds);
  const perRecipient = (x: number | undefined, n: number) => (x === undefined ? 'n/a' : `${((x * 1e6) / n).toFixed(1)} µs`);
  const line = (name: string, n: number, run: { seconds: number; cpu: { pg: number | undefined; service: number | undefined } }) => {
    const r = rate(n, run.seconds);
    return (
      `  ${name.padEnd(34)} ${fmtInt(n).padStart(10)} recipients in ${run.seconds.toFixed(2).padStart(6)} s = ${fmtInt(r).padStart(8)} recipients/s  (${(r / baseRate).toFixed(2)}x baseline);` +
      ` CPU a recipient: PostgreSQL ${perRecipient(run.cpu.pg, n)}, service ${perRecipient(run.cpu.service, n)}`
    );
  };
  console.log(
    `\ngroup filter expansion and recipient-file storing (POST -> request leaves P; confirmAndSend, nothing sent; STORE_PARALLELISM ${process.env.STORE_PARALLELISM ?? 'default'})`,
  );
  console.log(line(`baseline: JSON payload`, BASELINE_N, baseline));
  console.log(line(`AND over ${fmtInt(A)} & ${fmtInt(B)}`, OVERLAP, and));
  console.log(line(`OR over ${fmtInt(A)} & ${fmtInt(B)}`, A + B - OVERLAP, or));
  console.log(line(`recipient file`, FILE_ROWS, file));
  const met = (r: number) => (r >= TARGET ? 'met' : 'MISSED');
  console.log(`  target >= ${fmtInt(TARGET)} recipients/s: AND ${met(andRate)}, OR ${met(orRate)}, file ${met(fileRate)}`);
  if (process.env.BENCH_DATABASE_URL && service.pgPid) {
    console.log(
      `  PostgreSQL's CPU is its server's on this machine (postmaster ${service.pgPid}): every database's backends, autovacuum and this benchmark's own polling`,
    );
  }
  console.log(`  stored counts ${ok ? 'exact' : 'WRONG'}\n`);
  return ok ? 0 : 1;
}

await runMain(main, cleanups, log);
