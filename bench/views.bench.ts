// npm run bench:views — the list views on a large history.
//
// A history of BENCH_VIEWS_RECIPIENTS recipient rows (scripts/seed-history.ts) is seeded into an
// embedded PostgreSQL (or BENCH_VIEWS_DATABASE_URL is reused as it is), the service runs as
// `node src/main.ts` (ROLE=api) in its own process, and each view - request, mail (the big
// project's largest recent request) and recipient view - is called through the HTTP API with
// signed requests, first page, default sort, once without filters and once with each single
// filter, BENCH_VIEWS_ITERATIONS times after a warm-up. Printed per case: p50 and p95, the
// target and, as the baseline measured in the same run, the ratio to the p95 of the primary-key
// lookup of one request (`GET /mails/requests?requestId=...`: the HTTP, signature, validation
// and rendering floor).
// Targets (issue, on 10,000,000 recipient rows): every view with any single filter p95 <= 50 ms;
// the recipient-address search p95 <= 20 ms; the title partial-match search p95 <= 100 ms.
//
// Environment:
//   BENCH_VIEWS_RECIPIENTS     history rows to seed (default 10000000; e.g. 200000 for a quick check)
//   BENCH_VIEWS_DATABASE_URL   reuse a database already filled by `npm run seed:history` (migrated here)
//   BENCH_VIEWS_ITERATIONS     measured calls per case (default 40)
//   BENCH_LOG_LEVEL            the service's LOG_LEVEL (default warn)
// Exit status: 1 when a call fails or answers rows that don't match its filter, or the run could
// not be carried out; missed targets are reported, not failed.
import crypto from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import { connectDb } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createSecretBox } from '../src/shared/secret-box.ts';
import { seedHistory } from '../scripts/seed-history.ts';
import { benchLog, fmtInt, freePort, intEnv, percentile } from './helpers.ts';
import { createCleanups, runMain, signedCall, startBenchPostgres, startServiceProcess, type ApiKey } from './send-run.ts';

const HISTORY = intEnv('BENCH_VIEWS_RECIPIENTS', 10_000_000);
const ITERATIONS = intEnv('BENCH_VIEWS_ITERATIONS', 40);
const WARMUP = 3;
const REUSE_URL = process.env.BENCH_VIEWS_DATABASE_URL || undefined;
const MAIN_PROJECT = 'history-main';

const log = benchLog('views-bench');
const cleanups = createCleanups(log);

type Row = Record<string, any>;
interface Case {
  view: 'requests' | 'mails' | 'recipients';
  filter: string;
  target: string;
  /** ms */
  goal: number;
  /** every row must satisfy it */
  check?: (row: Row) => boolean;
}

interface Samples {
  requestId: string;
  bigRequestId: string;
  mailId: string;
  address: string;
  sender: string;
  titleWord: string;
  templateSid: string;
  from: number;
  to: number;
}

/** Filter values taken from the recent history of the big project (inside the default two-month window). */
async function samples(url: string, projectName: string): Promise<Samples> {
  const dbh = connectDb(url, { max: 1 });
  try {
    const one = async <T>(q: ReturnType<typeof sql<T>>) => {
      const r = (await q.execute(dbh.db)).rows[0];
      if (!r) throw new Error('the history has no data for a sample');
      return r;
    };
    const { project_id } = await one(sql<{ project_id: string }>`SELECT id::text AS project_id FROM projects WHERE name = ${projectName}`);
    const recent = sql`mr.project_id = ${project_id}::bigint AND mr.created_at > now() - interval '30 days'`;
    const req = await one(
      sql<{ id: string }>`SELECT mr.id_day::text || lpad(mr.id::text, 12, '0') AS id FROM mail_requests mr WHERE ${recent} ORDER BY mr.created_at DESC LIMIT 1`,
    );
    const big = await one(sql<{ id: string; rid: string }>`
      SELECT mr.id_day::text || lpad(mr.id::text, 12, '0') AS id, mr.id::text AS rid FROM mail_requests mr WHERE ${recent} ORDER BY mr.recipient_count DESC LIMIT 1`);
    const mail = await one(
      sql<{
        id: string;
      }>`SELECT m.id_day::text || lpad(m.id::text, 12, '0') AS id FROM mails m WHERE m.request_id = ${big.rid}::bigint ORDER BY m.seq DESC LIMIT 1`,
    );
    const addr = await one(sql<{ address: string }>`
      SELECT r.address FROM recipients r WHERE r.project_id = ${project_id}::bigint AND r.created_at > now() - interval '30 days' ORDER BY r.id DESC LIMIT 1`);
    const sender = await one(sql<{ s: string }>`SELECT mr.sender_address AS s FROM mail_requests mr WHERE ${recent} GROUP BY 1 ORDER BY count(*) ASC LIMIT 1`);
    // Without tags: the search matches the title as requested, the recipient view shows it rendered.
    const title = await one(sql<{ t: string }>`
      SELECT mr.title AS t FROM mail_requests mr WHERE ${recent} AND strpos(mr.title, '$') = 0 AND strpos(mr.title, '#{') = 0
      GROUP BY 1 ORDER BY count(*) ASC LIMIT 1`);
    const tpl = await one(sql<{ sid: string }>`
      SELECT coalesce((SELECT mr.template_sid::text FROM mail_requests mr WHERE ${recent} AND mr.template_sid IS NOT NULL LIMIT 1), '1') AS sid`);
    // a word of the least used recent title: a partial match, not the whole title
    const words = title.t.split(/\s+/).filter((w) => w.length >= 4 && !w.includes('$'));
    return {
      requestId: req.id,
      bigRequestId: big.id,
      mailId: mail.id,
      address: addr.address,
      sender: sender.s,
      titleWord: (words.sort((a, b) => b.length - a.length)[0] ?? title.t).toLowerCase(),
      templateSid: tpl.sid,
      from: Date.now() - 7 * 86_400_000,
      to: Date.now(),
    };
  } finally {
    await dbh.close();
  }
}

function casesFor(s: Samples): Case[] {
  const q = encodeURIComponent;
  const out: Case[] = [];
  const common: [string, string, number, ((r: Row) => boolean) | undefined][] = [
    ['(none)', '', 50, undefined],
    ['date range (7 days)', `startUtc=${s.from}&endUtc=${s.to}`, 50, (r) => r.requestDate.utc >= s.from && r.requestDate.utc <= s.to],
    ['sendStatus=F', 'sendStatus=F', 50, (r) => r.emailStatus.code === 'F'],
    ['sendStatus=S,F,U', 'sendStatus=S,F,U', 50, (r) => ['S', 'F', 'U'].includes(r.emailStatus.code)],
    ['requestId', `requestId=${s.requestId}`, 50, (r) => r.requestId === s.requestId],
    ['mailId', `mailId=${s.mailId}`, 50, undefined],
    ['recipientAddress', `recipientAddress=${q(s.address)}`, 20, undefined],
    ['senderAddress', `senderAddress=${q(s.sender)}`, 50, (r) => r.senderAddress === undefined || r.senderAddress.toLowerCase() === s.sender.toLowerCase()],
    ['title (partial)', `title=${q(s.titleWord)}`, 100, (r) => r.title.toLowerCase().includes(s.titleWord)],
    ['templateSid', `templateSid=${s.templateSid}`, 50, (r) => String(r.templateSid) === s.templateSid],
    ['dispatchType=CONSOLE', 'dispatchType=CONSOLE', 50, (r) => r.dispatchType === undefined || r.dispatchType === 'CONSOLE'],
    ['sendResultCode=RECIPIENT_ADDRESS_ERROR', 'sendResultCode=RECIPIENT_ADDRESS_ERROR', 50, undefined],
  ];
  for (const [filter, query, goal, check] of common) {
    out.push({
      view: 'requests',
      filter,
      target: `/api/v1/mails/requests${query ? `?${query}` : ''}`,
      goal,
      check: filter.startsWith('sendStatus') ? undefined : check,
    });
    out.push({ view: 'recipients', filter, target: `/api/v1/mails/recipients${query ? `?${query}` : ''}`, goal, check });
  }
  // the mail view: one request's mails (its largest recent one); its own filters
  const mails: [string, string, number][] = [
    ['(none)', '', 50],
    ['sendStatus=F', 'sendStatus=F', 50],
    ['mailId', `mailId=${s.mailId}`, 50],
    ['recipientAddress', `recipientAddress=${q(s.address)}`, 20],
    ['title (partial)', `title=${q(s.titleWord)}`, 100],
    ['sendResultCode=RECIPIENT_ADDRESS_ERROR', 'sendResultCode=RECIPIENT_ADDRESS_ERROR', 50],
  ];
  for (const [filter, query, goal] of mails) {
    out.push({ view: 'mails', filter, target: `/api/v1/mails/requests/${s.bigRequestId}/mails${query ? `?${query}` : ''}`, goal });
  }
  // the recipient-level checks
  const byFilter = (view: Case['view'], filter: string) => out.find((c) => c.view === view && c.filter === filter)!;
  byFilter('recipients', 'recipientAddress').check = (r) => r.address.toLowerCase() === s.address.toLowerCase();
  byFilter('recipients', 'mailId').check = (r) => r.mailId === s.mailId;
  byFilter('recipients', 'sendResultCode=RECIPIENT_ADDRESS_ERROR').check = (r) => r.sendResultCode === 'RECIPIENT_ADDRESS_ERROR';
  byFilter('mails', 'sendStatus=F').check = (r) => r.emailStatus.code === 'F';
  byFilter('mails', 'mailId').check = (r) => r.mailId === s.mailId;
  return out;
}

interface Result {
  c: Case;
  p50: number;
  p95: number;
  rows: number;
  total: number;
  exact: boolean;
}

async function run(baseUrl: string, key: ApiKey, c: Case, failures: string[]): Promise<Result> {
  const times: number[] = [];
  let last: any;
  for (let i = 0; i < WARMUP + ITERATIONS; i++) {
    const t0 = performance.now();
    const res = await signedCall(baseUrl, key, 'GET', c.target);
    const ms = performance.now() - t0;
    if (res.status !== 200 || !Array.isArray(res.json?.content)) {
      failures.push(`${c.view} ${c.filter}: ${res.status} ${JSON.stringify(res.json).slice(0, 300)}`);
      break;
    }
    if (i >= WARMUP) times.push(ms);
    last = res.json;
  }
  if (last && c.check) {
    const bad = (last.content as Row[]).filter((r) => !c.check!(r));
    if (bad.length) failures.push(`${c.view} ${c.filter}: ${bad.length} row(s) don't match the filter, e.g. ${JSON.stringify(bad[0]).slice(0, 300)}`);
  }
  times.sort((a, b) => a - b);
  return {
    c,
    p50: percentile(times, 0.5),
    p95: percentile(times, 0.95),
    rows: last?.content?.length ?? 0,
    total: last?.totalElements ?? 0,
    exact: last?.totalElementsExact !== false,
  };
}

async function main(): Promise<number> {
  log(`views benchmark: history ${REUSE_URL ? 'reused' : fmtInt(HISTORY) + ' recipients'}, ${ITERATIONS} calls per case, ${os.cpus().length} CPUs`);
  const url = REUSE_URL ?? (await startBenchPostgres(cleanups, 'mailer-views-bench-', 'bench_views'));
  const masterKey = crypto.randomBytes(32);
  let seedLine = 'history reused (BENCH_VIEWS_DATABASE_URL)';
  const dbh = connectDb(url, { max: 2 });
  let key: ApiKey;
  let recipients: number;
  try {
    await migrateToLatest(dbh.db);
    if (!REUSE_URL) {
      const seeded = await seedHistory(dbh.db, { recipients: HISTORY, log });
      seedLine = `history seeded: ${fmtInt(seeded.recipients)} recipients, ${fmtInt(seeded.mails)} mails, ${fmtInt(seeded.requests)} requests in ${seeded.seconds.toFixed(1)} s`;
      log(seedLine);
    }
    // the recipient view relies on recipients.created_at = its request's created_at
    const mismatch = await sql<{ n: string }>`
      SELECT count(*) AS n FROM (SELECT 1 FROM recipients r JOIN mail_requests mr ON mr.id = r.request_id WHERE r.created_at <> mr.created_at LIMIT 1000) x`.execute(
      dbh.db,
    );
    if (Number(mismatch.rows[0]!.n) > 0)
      throw new Error("recipients.created_at differs from its request's created_at (was the history written before the view_indexes migration?)");
    key = await createKey(dbh.db, createSecretBox(masterKey), MAIN_PROJECT);
    recipients = Number((await sql<{ n: string }>`SELECT reltuples::bigint::text AS n FROM pg_class WHERE relname = 'recipients'`.execute(dbh.db)).rows[0]!.n);
  } finally {
    await dbh.close();
  }
  const s = await samples(url, MAIN_PROJECT);
  const service = await startServiceProcess(cleanups, {
    smtpPort: await freePort(), // ROLE=api sends nothing
    connections: 1,
    log,
    databaseUrl: url,
    env: { MASTER_KEY: masterKey.toString('hex'), ROLE: 'api' },
  });

  const failures: string[] = [];
  const baseline = await run(
    service.baseUrl,
    key,
    { view: 'requests', filter: 'baseline', target: `/api/v1/mails/requests?requestId=${s.requestId}`, goal: 50 },
    failures,
  );
  const results: Result[] = [];
  for (const c of casesFor(s)) {
    const r = await run(service.baseUrl, key, c, failures);
    results.push(r);
    log(`${c.view.padEnd(10)} ${c.filter.padEnd(40)} p50 ${r.p50.toFixed(1).padStart(7)} ms  p95 ${r.p95.toFixed(1).padStart(7)} ms`);
  }
  const baseline2 = await run(
    service.baseUrl,
    key,
    { view: 'requests', filter: 'baseline', target: `/api/v1/mails/requests?requestId=${s.requestId}`, goal: 50 },
    failures,
  );
  const best = baseline.p95 <= baseline2.p95 ? baseline : baseline2;
  const base = best.p95;
  const missed = results.filter((r) => !(r.p95 <= r.c.goal));
  const lines = [
    '',
    `views benchmark (${fmtInt(recipients)} recipient rows, first page of 10, default sort, ${ITERATIONS} calls per case, node ${process.version}, ${os.cpus().length} CPUs)`,
    `  ${seedLine}`,
    `  baseline: primary-key lookup of one request through the same API: p50 ${best.p50.toFixed(1)} ms, p95 ${base.toFixed(1)} ms (the better of a run before and one after the cases)`,
    `  ${'view'.padEnd(10)} ${'filter'.padEnd(40)} ${'p50'.padStart(8)} ${'p95'.padStart(8)} ${'target'.padStart(7)} ${'x base'.padStart(7)}  rows  totalElements`,
    ...results.map(
      (r) =>
        `  ${r.c.view.padEnd(10)} ${r.c.filter.padEnd(40)} ${r.p50.toFixed(1).padStart(8)} ${r.p95.toFixed(1).padStart(8)} ${('≤' + r.c.goal).padStart(7)} ${(r.p95 / base).toFixed(1).padStart(7)}  ${String(r.rows).padStart(4)}  ${fmtInt(r.total)}${r.exact ? '' : '+'}${r.p95 <= r.c.goal ? '' : '  MISSED'}`,
    ),
    `  worst p95: ${Math.max(...results.map((r) => r.p95)).toFixed(1)} ms; targets missed: ${missed.length ? missed.map((r) => `${r.c.view} ${r.c.filter}`).join('; ') : 'none'}`,
    `  ("+": totalElements is a lower bound, totalElementsExact false)`,
  ];
  if (failures.length) lines.push('  FAILED:', ...failures.map((f) => `    ${f}`));
  console.log(lines.join('\n'));
  return failures.length ? 1 : 0;
}

await runMain(main, cleanups, log);
