// npm run seed:history -- --recipients 10000000 [--database-url URL] [--projects P] [--days 730] [--seed S]
//
// Fills a database with realistic sending history: many projects (one big one with most of it),
// senders and titles from small vocabularies, request sizes skewed (mostly 1-10 recipients, a few
// of 1,000-100,000), individual and general mails, advertising, templates, reservations, statuses
// and result codes in realistic proportions over the last `days` days (more recent = more).
// Every row is what the service itself would have written: public ids from mail_id_seq with
// id_day in DISPLAY_TIMEZONE, counts that add up, statuses rolled up recipient -> mail -> request.
//
// Set-based only: the plan (request sizes and times) is drawn in JS from a seeded PRNG, and rows
// are produced by INSERT ... SELECT over generate_series in chunks of about --chunk recipients,
// oldest first (so ids grow with time, as the service's do). Per-row randomness comes from
// hashint8extended(row number, seed): the same --seed gives the same history.
//
// Without --database-url (or DATABASE_URL) an embedded PostgreSQL is started under
// DATA_DIR/pg (default .data/pg) and kept there for the service or a benchmark to reuse.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { ConfigError, loadConfig } from '../src/config.ts';
import { connectDb } from '../src/db/connect.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { Db, Tx } from '../src/db/schema.ts';
import { startQueue, type JobQueue } from '../src/jobs/queue.ts';
import { createLogger } from '../src/logger.ts';
import { reservationJobsFor, START_RESERVATION, type StartReservationPayload } from '../src/modules/lifecycle/start-reservation.job.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createSecretBox, loadMasterKey, type SecretBox } from '../src/shared/secret-box.ts';

export interface SeedHistoryOptions {
  recipients: number;
  /** projects to spread the history over; the first ("<prefix>-main") gets about 60 % (default 20) */
  projects?: number;
  /** history spans this many days before `now` (default 730) */
  days?: number;
  seed?: number;
  now?: Date;
  /** project names are `${prefix}-main`, `${prefix}-02` ... (default "history") */
  projectPrefix?: string;
  displayTimezone?: string;
  adTitlePrefix?: string;
  /** recipients per chunk (one transaction, a few statements) */
  chunkRecipients?: number;
  /**
   * drop the history tables' secondary indexes for the load and rebuild them after, all in one
   * transaction (default: from 1,000,000 recipients on)
   */
  bulk?: boolean;
  /** with a box, one access key per project is created (projects service) and returned */
  box?: SecretBox;
  /** with a queue, the reservations still ahead get their start-reservation jobs, as the service would queue them */
  queue?: JobQueue;
  log?: (msg: string) => void;
}

export interface SeededProject {
  id: string;
  name: string;
  accessKey?: string;
  secretKey?: string;
}

export interface SeededHistory {
  projects: SeededProject[];
  /** the big project (most of the history) */
  main: SeededProject;
  requests: number;
  mails: number;
  recipients: number;
  seconds: number;
  /** recipient rows written per second, ANALYZE included */
  recipientsPerSecond: number;
  /** pg_database_size after the load: the whole database, indexes and TOAST included */
  databaseBytes: number;
}

// ---------- vocabularies ----------

const SENDERS: [string, string | null][] = [
  ['no_reply@shop.example.com', 'Example Shop'],
  ['news@shop.example.com', 'Example Shop News'],
  ['notice@bank.example.co.kr', '예시은행'],
  ['security@account.example.com', 'Account Security'],
  ['billing@cloud.example.com', 'Cloud Billing'],
  ['support@game.example.jp', 'サポート'],
  ['hello@startup.example.io', null],
  ['events@community.example.org', 'Community Events'],
];
const TITLES = [
  'Your order has shipped',
  'Your order has been delivered',
  'Password reset request',
  'Verify your email address',
  'Invoice for your monthly subscription',
  'Payment receipt',
  'Weekly newsletter: new arrivals and best sellers',
  'Monthly newsletter: product updates',
  'Security alert: new sign-in to your account',
  'Your reservation is confirmed',
  'Event invitation: annual customer conference',
  'Winter sale starts today',
  'Your cart is waiting',
  'Service maintenance notice',
  'Terms of service update',
  '주문하신 상품이 발송되었습니다',
  '비밀번호 재설정 안내',
  '월간 뉴스레터 12월호',
  '결제 완료 안내',
  '이벤트 당첨을 축하드립니다',
  '会員登録ありがとうございます',
  'パスワード再設定のご案内',
  '${NAME}, your coupon expires soon',
  '${NAME}님, 포인트 소멸 예정 안내',
];
/** TITLES indexes that carry a user tag: their recipients get a NAME parameter */
const TAGGED_TITLES = TITLES.map((t, i) => (t.includes('${') ? i : -1)).filter((i) => i >= 0);
const BODY_PARAGRAPH =
  '<p>Thank you for using our service. This message was sent to #{RECIPIENT_ADDRESS} because you have an account with us. ' +
  'If you have any questions, reply to this mail or visit our help centre; we are happy to help.</p>';
const BODIES = [
  `<html><body><h1>Hello #{RECIPIENT_NAME}</h1>${BODY_PARAGRAPH}</body></html>`,
  `<html><body><h2>Notice</h2><p>Scheduled maintenance will take place this weekend.</p>${BODY_PARAGRAPH.repeat(3)}</body></html>`,
  `<html><body><table width="600"><tr><td><h1>Newsletter</h1>${BODY_PARAGRAPH.repeat(8)}</td></tr></table></body></html>`,
  `<html><body><p>안녕하세요 #{RECIPIENT_NAME}님,</p><p>요청하신 내용을 안내해 드립니다. 자세한 내용은 고객센터로 문의해 주세요.</p>${BODY_PARAGRAPH}</body></html>`,
];
const DOMAINS = ['naver.com', 'gmail.com', 'daum.net', 'kakao.com', 'hanmail.net', 'outlook.com', 'yahoo.co.jp', 'example.com', 'company.co.kr', 'icloud.com'];
const NAMES = [
  '김민준',
  '이서연',
  '박지훈',
  '최수아',
  'Kim Minjun',
  'Lee Seoyeon',
  'John Smith',
  'Emma Brown',
  '佐藤 健',
  '鈴木 花子',
  'Park Jiwoo',
  'Alex Kim',
];
/** permanent failure codes with their share among failed recipients and a typical raw reply */
const FAILURES: [code: string, weight: number, message: string | null, retries: number][] = [
  ['RECIPIENT_ADDRESS_ERROR', 35, '550 5.1.1 Recipient address rejected: User unknown', 0],
  ['NONEXISTENT_DOMAIN_ADDRESS', 12, '550 5.1.2 Host or domain name not found', 0],
  ['MAILBOX_ERROR', 14, '552 5.2.2 Mailbox full', 0],
  ['RESEND_MAIL_FAIL', 10, '421 4.4.2 Connection timed out', 3],
  ['SEND_BLOCK_ADDRESS', 10, null, 0],
  ['SECURITY_AND_POLICY_ERROR', 6, '550 5.7.1 Message rejected due to policy', 0],
  ['SMTP_ERROR', 6, '554 Transaction failed', 0],
  ['MAIL_CONTENTS_ERROR', 3, '552 5.6.0 Message content rejected', 0],
  ['RECEIVE_MAIL_SERVICE_ERROR', 2, '553 5.3.0 Mail system unavailable', 0],
  ['NETWORK_ERROR', 2, '554 5.4.4 Unable to route', 0],
];
const REQUEST_FAILURES = ['CONTENT_HAS_TAG_FORM', 'SMTP_ERROR', 'RECIPIENT_ADDRESS_ERROR', 'RESEND_MAIL_FAIL'];

/** Outcome of a request as a whole; recipients vary within it. */
const DAY_MS = 24 * 3600 * 1000;
const KIND = { ok: 0, partial: 1, fail: 2, cancel: 3, unsub: 4, reserved: 5, confirm: 6 } as const;

// ---------- the plan (JS, seeded) ----------

/** mulberry32: small, fast, good enough for a plan */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logUniform(rand: () => number, lo: number, hi: number): number {
  return Math.floor(Math.exp(Math.log(lo) + rand() * (Math.log(hi + 1) - Math.log(lo))));
}

/** Recipient counts of the requests, skewed: ~29 % of recipients in requests of 1-10, ~20 % in 11-999, ~51 % in 1,000-100,000. */
function planSizes(total: number, rand: () => number): number[] {
  const sizes: number[] = [];
  let left = total;
  while (left > 0) {
    const r = rand();
    let n: number;
    if (r < 0.0002) n = logUniform(rand, 1000, 100_000);
    else if (r < 0.008) n = logUniform(rand, 11, 999);
    else {
      const s = rand();
      n = s < 0.5 ? 1 : s < 0.65 ? 2 : s < 0.75 ? 3 : 4 + Math.floor(rand() * 7);
    }
    n = Math.min(n, left);
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

interface PlannedRequest {
  at: number;
  project: number;
  n: number;
  individual: boolean;
  advertising: boolean;
  kind: number;
  title: number;
  sender: number;
  body: number;
  template: number;
  /** ms after creation when sending starts (a reservation); 0: at once */
  reserveMs: number;
  /** mails sent before a cancel took effect */
  cancelAfter: number;
  failCode: number;
  ip: string;
  console: boolean;
}

function planRequest(rand: () => number, at: number, n: number, projects: number, now: number): PlannedRequest {
  // the main project: ~60 % of requests; the others by a Zipf-like weight
  const p = projects === 1 || rand() < 0.6 ? 0 : 1 + Math.min(projects - 2, Math.floor((projects - 1) * rand() ** 2));
  const individual = n > 60 || rand() < 0.92;
  const advertising = individual && rand() < 0.18;
  const recent = now - at < 3 * DAY_MS;
  const k = rand();
  let kind: number = k < 0.86 ? KIND.ok : k < 0.92 ? KIND.partial : k < 0.955 ? KIND.fail : k < 0.975 ? KIND.cancel : KIND.ok;
  if (advertising && n <= 3 && rand() < 0.1) kind = KIND.unsub;
  // a few of the latest requests still wait: for their reservation, or for confirmation
  if (recent && rand() < 0.03) kind = rand() < 0.7 ? KIND.reserved : KIND.confirm;
  let title = Math.floor(rand() * TITLES.length);
  if (!individual && TAGGED_TITLES.includes(title)) title = 0;
  // Reservations: ahead of now for those still waiting (at most 30 days after the request), in
  // the past (and sent) for the others.
  let reserveMs = 0;
  if (kind === KIND.reserved) reserveMs = now - at + Math.round((0.05 + rand() * 26) * DAY_MS);
  else if (rand() < 0.08) reserveMs = Math.round(rand() * 3 * DAY_MS);
  if (kind !== KIND.reserved && at + reserveMs > now - 3600_000) reserveMs = 0;
  const mails = individual ? n : Math.ceil(n / 30);
  return {
    at,
    project: p,
    n,
    individual,
    advertising,
    kind,
    title,
    sender: Math.floor(rand() * SENDERS.length),
    body: Math.floor(rand() * BODIES.length),
    template: rand() < 0.25 ? Math.floor(rand() * 5) : -1,
    reserveMs,
    cancelAfter: kind === KIND.cancel ? Math.floor(rand() * mails) : mails,
    failCode: Math.floor(rand() * REQUEST_FAILURES.length),
    ip: `10.${Math.floor(rand() * 4)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`,
    console: rand() < 0.1,
  };
}

// ---------- SQL ----------

function sqlText(values: readonly string[]): string {
  return `ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
}

/** SQL for a deterministic uniform [0, 1) draw from a row number and a salt. */
function rnd(seed: number, expr: string, salt: number): string {
  return `((hashint8extended((${expr})::bigint, ${seed * 1000 + salt}) & 2147483647)::float8 / 2147483648.0)`;
}

/** SQL CASE picking a failure code (or its message, or its retries) by weight from a draw. */
function failurePick(draw: string, field: 0 | 2 | 3): string {
  const total = FAILURES.reduce((a, f) => a + f[1], 0);
  let acc = 0;
  const arms = FAILURES.map((f) => {
    acc += f[1];
    const v = f[field];
    const lit = v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v}'`;
    return `WHEN ${draw} < ${acc / total} THEN ${lit}`;
  });
  return `CASE ${arms.join(' ')} END`;
}

async function ensureTemplates(db: Db, projectId: string, sender: [string, string | null]): Promise<{ sid: string; name: string }[]> {
  const existing = await db
    .selectFrom('templates')
    .select(['sid', 'name'])
    .where('project_id', '=', projectId)
    .where('name', 'like', 'history-template-%')
    .orderBy('name')
    .execute();
  if (existing.length >= 5) return existing.slice(0, 5);
  const rows = Array.from({ length: 5 }, (_, i) => ({
    project_id: projectId,
    category_sid: null,
    name: `history-template-${i + 1}`,
    description: 'generated by seed:history',
    title: TITLES[i]!,
    body: BODIES[i % BODIES.length]!,
    sender_address: sender[0],
    sender_name: sender[1],
    is_use: true,
    position: i,
  }));
  return db.insertInto('templates').values(rows).returning(['sid', 'name']).execute();
}

async function insertChunk(
  tx: Tx,
  o: {
    seed: number;
    tz: string;
    adPrefix: string;
    timings: Record<string, number>;
    projectIds: string[];
    templates: { sid: string; name: string }[][];
    addressPool: number;
    firstRecipient: number;
  },
  plan: PlannedRequest[],
): Promise<{ mails: number; reserved: { id: string; mails: number; at: Date }[] }> {
  const seed = o.seed;
  let g = o.firstRecipient;
  const cols = {
    ord: [] as number[],
    /** epoch ms (numbers travel faster than Date objects) */
    at: [] as number[],
    project: [] as string[],
    n: [] as number[],
    mails: [] as number[],
    firstG: [] as number[],
    individual: [] as boolean[],
    advertising: [] as boolean[],
    kind: [] as number[],
    /** indexes into the vocabularies, resolved in SQL (the texts are sent once, not per request) */
    title: [] as number[],
    sender: [] as number[],
    body: [] as number[],
    templateSid: [] as (string | null)[],
    templateName: [] as (string | null)[],
    startAt: [] as number[],
    reservationAt: [] as (number | null)[],
    cancelAfter: [] as number[],
    failCode: [] as string[],
    tagged: [] as boolean[],
    ip: [] as string[],
    dispatch: [] as string[],
    confirm: [] as boolean[],
  };
  let mailTotal = 0;
  plan.forEach((r, i) => {
    const mails = r.individual ? r.n : Math.ceil(r.n / 30);
    mailTotal += mails;
    const tpl = r.template >= 0 ? o.templates[r.project]?.[r.template] : undefined;
    cols.ord.push(i);
    cols.at.push(r.at);
    cols.project.push(o.projectIds[r.project]!);
    cols.n.push(r.n);
    cols.mails.push(mails);
    cols.firstG.push(g);
    g += r.n;
    cols.individual.push(r.individual);
    cols.advertising.push(r.advertising);
    cols.kind.push(r.kind);
    cols.title.push(r.title + 1);
    cols.sender.push(r.sender + 1);
    cols.body.push(r.body + 1);
    cols.templateSid.push(tpl?.sid ?? null);
    cols.templateName.push(tpl?.name ?? null);
    // sending starts a few hundred ms after the request (or at its reservation)
    cols.startAt.push(r.at + (r.reserveMs || 150 + (r.n % 700)));
    cols.reservationAt.push(r.reserveMs ? r.at + r.reserveMs : null);
    cols.cancelAfter.push(r.cancelAfter);
    cols.failCode.push(REQUEST_FAILURES[r.failCode]!);
    cols.tagged.push(TAGGED_TITLES.includes(r.title));
    cols.ip.push(r.ip);
    cols.dispatch.push(r.console ? 'CONSOLE' : 'API');
    cols.confirm.push(r.kind === KIND.confirm);
  });

  let t = performance.now();
  const step = (name: string) => {
    const n = performance.now();
    o.timings[name] = (o.timings[name] ?? 0) + (n - t);
    t = n;
  };
  {
    await sql`
      CREATE TEMP TABLE seed_req AS
      SELECT nextval('mail_id_seq') AS id, u.ord, to_timestamp(u.at / 1000.0) AS created_at, u.project_id, u.n, u.mail_count, u.first_g,
        u.individual, u.advertising, u.kind,
        CASE WHEN u.advertising THEN ${o.adPrefix}::text ELSE '' END || (${TITLES}::text[])[u.title] AS title,
        (${SENDERS.map((x) => x[0])}::text[])[u.sender] AS sender_address, (${SENDERS.map((x) => x[1])}::text[])[u.sender] AS sender_name,
        (${BODIES}::text[])[u.body] AS body, u.template_sid, u.template_name,
        to_timestamp(u.start_at / 1000.0) AS start_at, to_timestamp(u.reservation_at / 1000.0) AS reservation_at,
        u.cancel_after, u.fail_code, u.tagged, u.requester_ip, u.dispatch_type, u.confirm_and_send
      FROM unnest(${cols.ord}::int[], ${cols.at}::float8[], ${cols.project}::bigint[], ${cols.n}::int[], ${cols.mails}::int[],
                  ${cols.firstG}::bigint[], ${cols.individual}::bool[], ${cols.advertising}::bool[], ${cols.kind}::int[], ${cols.title}::int[],
                  ${cols.sender}::int[], ${cols.body}::int[], ${cols.templateSid}::bigint[], ${cols.templateName}::text[],
                  ${cols.startAt}::float8[], ${cols.reservationAt}::float8[], ${cols.cancelAfter}::int[], ${cols.failCode}::text[],
                  ${cols.tagged}::bool[], ${cols.ip}::text[], ${cols.dispatch}::text[], ${cols.confirm}::bool[])
        AS u(ord, at, project_id, n, mail_count, first_g, individual, advertising, kind, title, sender, body,
             template_sid, template_name, start_at, reservation_at, cancel_after, fail_code, tagged, requester_ip, dispatch_type, confirm_and_send)
      ORDER BY u.ord
    `.execute(tx);
    step('requests plan');
    // Mails with their outcome, decided per mail from one draw (general mails: the last envelope
    // recipient may be refused at RCPT, which makes the mail PF). Recipients take their mail's
    // outcome, so the roll-ups hold by construction.
    const M = (salt: number) => rnd(seed, 'q.first_g', salt);
    const fail = M(2);
    await sql
      .raw(
        `
      CREATE TEMP TABLE seed_mail AS
      SELECT q.*, CASE
          WHEN q.status = 'R' THEN NULL
          WHEN q.status = 'C' THEN q.start_at + make_interval(secs => q.cancel_after * 0.002 + 1)
          ELSE q.start_at + make_interval(secs => (q.seq - 1) * 0.002 + q.retry_count * 120 + ${M(5)}) END AS finished_at
      FROM (
      SELECT q.*,
        CASE WHEN q.status IN ('F', 'PF') THEN coalesce(q.req_fail, ${failurePick(fail, 0)}) END AS fail_code,
        CASE WHEN q.status IN ('F', 'PF') AND q.req_fail IS NULL THEN ${failurePick(fail, 2)}
             WHEN q.req_fail = 'CONTENT_HAS_TAG_FORM' THEN 'no value for tag \${NAME}'
             WHEN q.status = 'F' THEN '554 5.0.0 Transaction failed' END AS fail_message,
        CASE WHEN q.status IN ('F', 'PF') AND q.req_fail IS NULL THEN ${failurePick(fail, 3)}
             WHEN q.status = 'F' AND q.req_fail = 'RESEND_MAIL_FAIL' THEN 3
             WHEN q.status = 'S' AND ${M(3)} < 0.03 THEN 1 + (${M(4)} < 0.15)::int
             ELSE 0 END AS retry_count
      FROM (
        SELECT nextval('mail_id_seq') AS id, q.*,
          CASE
            WHEN q.kind IN (${KIND.reserved}, ${KIND.confirm}) THEN 'R'
            WHEN q.kind = ${KIND.cancel} AND q.seq > q.cancel_after THEN 'C'
            WHEN q.kind = ${KIND.fail} THEN 'F'
            WHEN q.kind = ${KIND.unsub} THEN 'U'
            WHEN q.kind = ${KIND.partial} AND ${M(1)} < 0.3 THEN 'F'
            WHEN q.advertising AND ${M(1)} < 0.02 THEN 'U'
            WHEN ${M(1)} > 0.988 THEN 'F'
            WHEN q.cnt > 1 AND ${M(1)} > 0.95 THEN 'PF'
            ELSE 'S'
          END AS status
        FROM (
          SELECT r.id AS request_id, s.seq, r.project_id, r.created_at, r.kind, r.advertising, r.start_at, r.cancel_after, r.tagged,
            CASE WHEN r.kind = ${KIND.fail} THEN r.fail_code END AS req_fail,
            CASE WHEN r.individual THEN 1 ELSE least(30, r.n - (s.seq - 1) * 30) END AS cnt,
            r.first_g + CASE WHEN r.individual THEN s.seq - 1 ELSE (s.seq - 1) * 30 END AS first_g,
            r.individual, r.n, r.first_g AS req_first_g
          FROM seed_req r CROSS JOIN LATERAL generate_series(1, r.mail_count) AS s(seq)
          ORDER BY r.id, s.seq
        ) q
      ) q
      ) q;
      ANALYZE seed_req; ANALYZE seed_mail;
    `,
      )
      .execute(tx);
    step('mails plan');
    const tz = o.tz.replace(/'/g, "''");
    // Requests: rolled up from their mails; a cancelled one is C whatever was sent before the cancel.
    const reserved = await sql<{ id: string; mails: number; at: Date }>`
      WITH agg AS (
        SELECT m.request_id,
          count(*) FILTER (WHERE m.status = 'S') AS s, count(*) FILTER (WHERE m.status = 'F') AS f,
          count(*) FILTER (WHERE m.status = 'PF') AS pf, count(*) FILTER (WHERE m.status = 'U') AS u,
          count(*) FILTER (WHERE m.status = 'C') AS c, count(*) FILTER (WHERE m.status = 'R') AS rdy,
          max(m.finished_at) AS finished_at
        FROM seed_mail m GROUP BY m.request_id
      ), ins AS (
        INSERT INTO mail_requests (id, id_day, project_id, status, sender_address, sender_name, title, body, template_sid, template_name,
          individual, advertising, confirm_and_send, parameters, references_header, use_basic_unsubscribe_msg, unsubscribe_message,
          reservation_at, dispatch_type, requester_ip, request_count, recipient_count, stored_count, created_at, finished_at, canceled_at, started_at)
        SELECT r.id, to_char(r.created_at AT TIME ZONE ${o.tz}, 'YYYYMMDD')::int, r.project_id,
          CASE WHEN a.rdy > 0 THEN 'R'
               WHEN r.kind = ${KIND.cancel} AND a.c > 0 THEN 'C'
               WHEN a.pf > 0 OR (a.s > 0 AND a.f > 0) THEN 'PF'
               WHEN a.s > 0 THEN 'S' WHEN a.f > 0 THEN 'F' WHEN a.u > 0 THEN 'U' ELSE 'C' END,
          r.sender_address, r.sender_name, r.title, r.body, r.template_sid, r.template_name,
          r.individual, r.advertising, r.confirm_and_send, NULL, NULL, true, NULL,
          r.reservation_at, r.dispatch_type, r.requester_ip, r.mail_count, r.n, r.n, r.created_at,
          CASE WHEN a.rdy > 0 THEN NULL ELSE a.finished_at END,
          CASE WHEN r.kind = ${KIND.cancel} AND a.c > 0 THEN r.start_at + make_interval(secs => r.cancel_after * 0.002 + 1) END,
          -- sending began at the request or its reservation; a request still waiting, or cancelled
          -- before any mail went, never started
          CASE WHEN a.rdy > 0 OR (a.c > 0 AND a.s + a.f + a.pf + a.u = 0) THEN NULL ELSE r.start_at END
        FROM seed_req r JOIN agg a ON a.request_id = r.id
        ORDER BY r.id
        RETURNING id, status, confirm_and_send, reservation_at, request_count
      )
      SELECT id, request_count AS mails, reservation_at AS at FROM ins WHERE status = 'R' AND NOT confirm_and_send
    `.execute(tx);
    step('insert requests');
    // A recipient: its address and name from its number g; its outcome from its mail.
    const address = (g: string) =>
      `'user' || (hashint8extended(${g}, ${seed}) & 2147483647) % ${o.addressPool} || '@' || (${sqlText(DOMAINS)})[1 + floor(${rnd(seed, g, 6)} * ${DOMAINS.length})::int]`;
    const nameOf = (g: string) => `(${sqlText(NAMES)})[1 + floor(${rnd(seed, g, 8)} * ${NAMES.length})::int]`;
    await sql
      .raw(
        `
      INSERT INTO mails (id, id_day, request_id, project_id, seq, status, recipient_count, representative_address, next_attempt_at, attempts, created_at, finished_at)
      SELECT m.id, to_char(m.created_at AT TIME ZONE '${tz}', 'YYYYMMDD')::int, m.request_id, m.project_id, m.seq, m.status, m.cnt, ${address('m.first_g')},
        CASE WHEN m.status = 'R' AND NOT r.confirm_and_send THEN r.reservation_at END,
        CASE WHEN m.status IN ('R', 'C') THEN 0 ELSE 1 + m.retry_count END, m.created_at, m.finished_at
      FROM seed_mail m JOIN seed_req r ON r.id = m.request_id;
    `,
      )
      .execute(tx);
    step('insert mails');
    await sql
      .raw(
        `
      INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, status, result_code, result_message,
                              retry_count, received_at, finished_at, unsubscribed, unsubscribed_at, created_at)
      SELECT q.mail_id, q.request_id, q.project_id, ${address('q.g')},
        CASE WHEN ${rnd(seed, 'q.g', 7)} < 0.3 THEN NULL ELSE ${nameOf('q.g')} END,
        q.type,
        CASE WHEN q.tagged THEN jsonb_build_object('NAME', ${nameOf('q.g')}) END,
        q.status,
        CASE q.status WHEN 'F' THEN q.fail_code WHEN 'S' THEN 'MAIL_SENT' WHEN 'U' THEN 'UNSUBSCRIBE_ADDRESS' WHEN 'C' THEN 'CANCELED_MAIL' END,
        CASE q.status WHEN 'F' THEN q.fail_message WHEN 'S' THEN '250 2.0.0 Ok: queued as ' || upper(to_hex(hashint8extended(q.mail_id, ${seed}))) END,
        CASE WHEN q.status = 'F' OR (q.status = 'S' AND q.mail_status = 'S') THEN q.retry_count ELSE 0 END,
        CASE WHEN q.status = 'S' THEN q.finished_at END,
        q.finished_at,
        q.advertising AND q.status = 'S' AND ${rnd(seed, 'q.g', 9)} < 0.004,
        CASE WHEN q.advertising AND q.status = 'S' AND ${rnd(seed, 'q.g', 9)} < 0.004 THEN q.finished_at + make_interval(hours => 1 + floor(${rnd(seed, 'q.g', 10)} * 72)::int) END,
        q.created_at
      FROM (
        SELECT m.id AS mail_id, m.status AS mail_status, m.request_id, m.project_id, m.created_at, m.tagged, m.advertising, m.finished_at,
          m.retry_count, m.fail_code, m.fail_message, g.g,
          -- a PF mail: its last envelope recipient was refused
          CASE WHEN m.status = 'PF' THEN CASE WHEN g.g = m.first_g + m.cnt - 1 THEN 'F' ELSE 'S' END ELSE m.status END AS status,
          CASE WHEN m.individual THEN 'R'
               WHEN m.n > 3 AND g.g - m.req_first_g = m.n - 1 THEN 'B'
               WHEN m.n > 3 AND g.g - m.req_first_g = m.n - 2 THEN 'C'
               ELSE 'R' END AS type
        FROM seed_mail m CROSS JOIN LATERAL generate_series(m.first_g, m.first_g + m.cnt - 1) AS g(g)
      ) q;
      -- the project's unsubscribe list holds whom advertising was refused to, and who used a link
      INSERT INTO unsubscribers (project_id, address, reg_by_manager, created_at)
      SELECT DISTINCT ON (project_id, lower(address)) project_id, address, false, at
      FROM (
        SELECT m.project_id, ${address('g.g')} AS address,
          CASE WHEN m.status = 'U' THEN m.created_at - interval '30 days' ELSE m.finished_at + make_interval(hours => 1 + floor(${rnd(seed, 'g.g', 10)} * 72)::int) END AS at
        FROM seed_mail m CROSS JOIN LATERAL generate_series(m.first_g, m.first_g + m.cnt - 1) AS g(g)
        WHERE m.advertising AND (m.status = 'U' OR (m.status = 'S' AND ${rnd(seed, 'g.g', 9)} < 0.004))
      ) u
      ORDER BY project_id, lower(address)
      ON CONFLICT (project_id, lower(address)) DO NOTHING;
    `,
      )
      .execute(tx);
    step('insert recipients');
    await sql`DROP TABLE seed_req, seed_mail`.execute(tx);
    return { mails: mailTotal, reserved: reserved.rows };
  }
}

/**
 * Rows are consistent by construction: foreign-key triggers (one per row) would cost more than
 * the inserts themselves. Only a superuser may skip them; others pay.
 */
async function prepareLoad(tx: Tx): Promise<void> {
  const su = (await sql<{ su: boolean }>`SELECT rolsuper AS su FROM pg_roles WHERE rolname = current_user`.execute(tx)).rows[0]?.su === true;
  if (su) await sql`SET LOCAL session_replication_role = replica`.execute(tx);
}

/** Secondary indexes of the history tables (whoever added them), as (name, CREATE INDEX ...). */
async function historyIndexes(tx: Tx): Promise<{ name: string; def: string }[]> {
  const res = await sql<{ name: string; def: string }>`
    SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relname IN ('mail_requests', 'mails', 'recipients') AND c.relnamespace = current_schema()::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    ORDER BY 1`.execute(tx);
  return res.rows;
}

/**
 * Seeds history into a migrated database. Returns the projects (with keys when `box` is given)
 * and the counts written.
 */
export async function seedHistory(db: Db, opts: SeedHistoryOptions): Promise<SeededHistory> {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const days = opts.days ?? 730;
  const projectCount = Math.max(1, opts.projects ?? 20);
  const prefix = opts.projectPrefix ?? 'history';
  const now = (opts.now ?? new Date()).getTime();
  const chunk = opts.chunkRecipients ?? 500_000;
  const bulk = opts.bulk ?? opts.recipients >= 1_000_000;
  const log = opts.log ?? (() => undefined);
  if (!Number.isInteger(opts.recipients) || opts.recipients < 1) throw new Error('recipients must be a whole number >= 1');

  const projects: SeededProject[] = [];
  const templates: { sid: string; name: string }[][] = [];
  for (let i = 0; i < projectCount; i++) {
    const name = i === 0 ? `${prefix}-main` : `${prefix}-${String(i + 1).padStart(2, '0')}`;
    let project: SeededProject;
    if (opts.box) {
      const key = await createKey(db, opts.box, name);
      project = { id: key.projectId, name, accessKey: key.accessKey, secretKey: key.secretKey };
    } else {
      const row =
        (await db.selectFrom('projects').select(['id']).where('name', '=', name).executeTakeFirst()) ??
        (await db.insertInto('projects').values({ name }).returning('id').executeTakeFirstOrThrow());
      project = { id: row.id, name };
    }
    projects.push(project);
    templates.push(await ensureTemplates(db, project.id, SENDERS[i % SENDERS.length]!));
  }

  const rand = prng(seed);
  const sizes = planSizes(opts.recipients, rand);
  // Times: density falls linearly with age (more recent = more), sorted so ids grow with time.
  const span = days * 24 * 3600 * 1000;
  const times = new Float64Array(sizes.length);
  // (an hour before now at the latest: the largest requests take minutes to finish)
  for (let i = 0; i < times.length; i++) times[i] = Math.round(now - 3600_000 - span * (1 - Math.sqrt(1 - rand())));
  times.sort();
  log(
    `seed:history: ${sizes.length.toLocaleString('en-US')} requests, ${opts.recipients.toLocaleString('en-US')} recipients, ${projectCount} projects over ${days} days (seed ${seed})`,
  );

  // The history's months get their partitions of mails and recipients, as the service's months do
  // (history-partitions.job.ts): its rows would all go to the default partition otherwise.
  await sql`SELECT ensure_history_partitions(${new Date(now - span - 3600_000)}::timestamptz, ${new Date(now)}::timestamptz)`.execute(db);
  const tz = opts.displayTimezone ?? 'Asia/Seoul';
  const adPrefix = opts.adTitlePrefix ?? '(광고)';
  const addressPool = Math.max(1000, Math.floor(opts.recipients / 4));
  let done = 0;
  let mails = 0;
  let requests = 0;
  let batch: PlannedRequest[] = [];
  let batchRecipients = 0;
  /** ms per step, summed over chunks: where the time goes */
  const timings: Record<string, number> = {};
  const reservedJobs: { data: StartReservationPayload; startAfter: Date }[] = [];
  const flush = async (tx: Tx) => {
    if (!batch.length) return;
    const res = await insertChunk(
      tx,
      { seed, tz, adPrefix, timings, projectIds: projects.map((p) => p.id), templates, addressPool, firstRecipient: done },
      batch,
    );
    for (const r of res.reserved) reservedJobs.push(...reservationJobsFor(r.id, r.at, new Date(now)));
    done += batchRecipients;
    mails += res.mails;
    requests += batch.length;
    const s = (performance.now() - t0) / 1000;
    log(
      `seed:history: ${done.toLocaleString('en-US')}/${opts.recipients.toLocaleString('en-US')} recipients (${Math.round((done / opts.recipients) * 100)} %), ${Math.round(done / s).toLocaleString('en-US')} rows/s (${Object.entries(
        timings,
      )
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
        .join(', ')})`,
    );
    batch = [];
    batchRecipients = 0;
  };
  const chunks = async function* () {
    for (let i = 0; i < sizes.length; i++) {
      batch.push(planRequest(rand, times[i]!, sizes[i]!, projectCount, now));
      batchRecipients += sizes[i]!;
      if (batchRecipients >= chunk || i === sizes.length - 1) yield;
    }
  };
  if (bulk) {
    // One transaction: the secondary indexes are dropped, the rows loaded, and the indexes built
    // again at the end (many times faster than keeping them up to date row by row). A failure
    // rolls it all back, indexes included; meanwhile the tables are locked for others.
    await db.transaction().execute(async (tx) => {
      await prepareLoad(tx);
      const indexes = await historyIndexes(tx);
      log(`seed:history: bulk load: ${indexes.length} secondary indexes dropped, rebuilt after the load`);
      for (const ix of indexes) await sql.raw(`DROP INDEX ${ix.name}`).execute(tx);
      for await (const _ of chunks()) await flush(tx);
      const t = performance.now();
      await sql`SET LOCAL maintenance_work_mem = '256MB'`.execute(tx);
      // (a partitioned table's index is listed ON ONLY the parent: built on every month's partition here)
      for (const ix of indexes) await sql.raw(ix.def.replace(/ ON ONLY /, ' ON ')).execute(tx);
      // the months' indexes named as the service names them (ensure_history_partitions:
      // recipients_bounced_p202612), so plans read the same after a seed
      await sql`SELECT name_history_month_indexes()`.execute(tx);
      log(`seed:history: ${indexes.length} indexes rebuilt in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    });
  } else {
    for await (const _ of chunks()) {
      await db.transaction().execute(async (tx) => {
        await prepareLoad(tx);
        await flush(tx);
      });
    }
  }
  if (opts.queue && reservedJobs.length) await opts.queue.insert(START_RESERVATION, reservedJobs);
  log('seed:history: VACUUM ANALYZE (visibility map and statistics, so the first queries and autovacuum don’t pay for the load)');
  for (const table of ['mail_requests', 'mails', 'recipients', 'templates', 'projects']) await sql.raw(`VACUUM (ANALYZE) ${table}`).execute(db);
  const seconds = (performance.now() - t0) / 1000;
  // The size on disk of the whole database, indexes and TOAST included, for capacity planning.
  const size = await sql<{ bytes: string }>`SELECT pg_database_size(current_database()) AS bytes`.execute(db);
  const bytes = Number(size.rows[0]!.bytes);
  log(
    `seed:history: done in ${seconds.toFixed(1)} s: ${requests} requests, ${mails} mails, ${done} recipients (${Math.round(done / seconds)} recipients/s); ` +
      `database ${(bytes / 1024 ** 3).toFixed(2)} GB on disk (${Math.round(bytes / Math.max(done, 1))} bytes a recipient, everything included)`,
  );
  return { projects, main: projects[0]!, requests, mails, recipients: done, seconds, recipientsPerSecond: done / seconds, databaseBytes: bytes };
}

// ---------- CLI ----------

const USAGE = `usage: npm run seed:history -- --recipients N [--database-url URL] [--projects P] [--days 730] [--seed S] [--chunk 500000]
  Without --database-url (or DATABASE_URL) an embedded PostgreSQL under DATA_DIR/pg is started and kept.
  One access key per project is created and printed (the secret only now); the first project holds most of the history.`;

function wholeNumber(name: string, raw: string | undefined, def: number | undefined, min: number): number {
  if (raw === undefined) {
    if (def === undefined) throw new Error(`--${name} is required`);
    return def;
  }
  if (!/^\d+$/.test(raw.replace(/_/g, ''))) throw new Error(`--${name} must be a whole number, got "${raw}"`);
  const n = Number(raw.replace(/_/g, ''));
  if (n < min) throw new Error(`--${name} must be at least ${min}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  let args;
  let counts: { recipients: number; projects: number; days: number; seed: number; chunkRecipients: number };
  try {
    args = parseArgs({
      args: argv,
      options: {
        recipients: { type: 'string' },
        'database-url': { type: 'string' },
        projects: { type: 'string' },
        days: { type: 'string' },
        seed: { type: 'string' },
        chunk: { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values;
    if (args.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    counts = {
      recipients: wholeNumber('recipients', args.recipients, undefined, 1),
      projects: wholeNumber('projects', args.projects, 20, 1),
      days: wholeNumber('days', args.days, 730, 1),
      seed: wholeNumber('seed', args.seed, 1, 0),
      chunkRecipients: wholeNumber('chunk', args.chunk, 500_000, 1000),
    };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`configuration error: ${err.message}\n`);
    return 2;
  }
  const logger = createLogger(config.logLevel);
  let url = args['database-url'] || config.databaseUrl;
  let embedded: EmbeddedDb | undefined;
  if (!url) {
    const dir = path.join(config.dataDir, 'pg');
    embedded = await startEmbeddedPostgres({ dir, database: 'mailer' });
    url = embedded.url;
    process.stdout.write(`embedded PostgreSQL: data in ${dir} (kept), ${url}\n`);
  }
  const dbh = connectDb(url, { max: 2 });
  let queue: JobQueue | undefined;
  try {
    await migrateToLatest(dbh.db);
    queue = await startQueue(url, logger, { schedule: false });
    const box = createSecretBox(loadMasterKey(config.masterKey, config.dataDir));
    const res = await seedHistory(dbh.db, {
      ...counts,
      displayTimezone: config.displayTimezone,
      adTitlePrefix: config.adTitlePrefix,
      box,
      queue,
      log: (m) => logger.info(m),
    });
    const out = [
      `seeded ${res.requests} requests, ${res.mails} mails, ${res.recipients} recipients in ${res.seconds.toFixed(1)} s (${Math.round(res.recipientsPerSecond)} recipients/s)`,
      'access keys (secrets are shown only now; they work with this DATA_DIR/MASTER_KEY):',
      ...res.projects.map((p) => `  ${p.name.padEnd(14)} project ${p.id}  access key ${p.accessKey}  secret key ${p.secretKey}`),
      `example: MAILER_ACCESS_KEY=${res.main.accessKey} MAILER_SECRET_KEY=${res.main.secretKey} npm run mailer -- GET /api/v1/mails/requests`,
    ];
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  } finally {
    await queue?.stop();
    await dbh.close();
    await embedded?.stop();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
