import { type Selectable, sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import { type HistoryRange, inHistoryRange } from '../../db/history-range.ts';
import type { Db, MailRequestsTable, RecipientsTable, Tx } from '../../db/schema.ts';
import type { RecipientUpdate } from './apply-send-result.ts';
import { webhookOutboxInsert } from '../webhooks/webhooks.service.ts';
import { type SigningKeyColumns, signingKeyColumns, signingKeyJoin } from '../sender-domains/sender-domains.read-model.ts';

/** What sending needs of a request. */
export type DeliveryRequestRow = Pick<
  Selectable<MailRequestsTable>,
  | 'id'
  | 'project_id'
  | 'sender_address'
  | 'sender_name'
  | 'individual'
  | 'advertising'
  | 'parameters'
  | 'references_header'
  | 'title'
  | 'body'
  | 'use_basic_unsubscribe_msg'
  | 'unsubscribe_message'
  | 'test_mail'
>;

/** A request as delivery loads it: what sending needs, its signing key, and whether it has attachments. */
export type DeliveryRequestLoad = DeliveryRequestRow & SigningKeyColumns & { has_files: boolean };

/**
 * The requests a claim sends, each with its signing key and whether files are attached, in one
 * statement (the attachments themselves are read only for requests that have some): a
 * 1-recipient request's mail is loaded once, so each statement here is one per request.
 */
export async function loadRequestsForDelivery(db: Db | Tx, requestIds: string[]): Promise<DeliveryRequestLoad[]> {
  const res = await sql<DeliveryRequestLoad>`${sql.raw(PREPARED)}
    SELECT r.id, r.project_id, r.sender_address, r.sender_name, r.individual, r.advertising, r.parameters, r.references_header,
      r.title, r.body, r.use_basic_unsubscribe_msg, r.unsubscribe_message, r.test_mail,
      EXISTS (SELECT 1 FROM request_files f WHERE f.request_id = r.id) AS has_files,
      ${signingKeyColumns}
    FROM mail_requests r
    ${signingKeyJoin('r')}
    WHERE r.id = ANY(${requestIds}::bigint[])
  `.execute(db);
  return res.rows;
}

export interface ClaimedMail {
  id: string;
  seq: number;
  request_id: string;
  /** the mail's (its request's) created_at: later statements name its month by it (history-range.ts) */
  created_at: Date;
  /**
   * Where the claim found the mail's request (claimDueMails): 0 among the oldest requests behind
   * the cursor, 1 after the cursor, 2 behind it when the claim went round.
   */
  part: 0 | 1 | 2;
}

/**
 * How many of a claim's `limit` requests are the oldest behind its cursor (claimDueMails' part
 * 0): a quarter, none for claims of fewer than 4 (a claim of 1 would otherwise always take the
 * oldest request's next mail, and the cursor would never move).
 */
export const claimHead = (limit: number) => Math.floor(limit / 4);

/**
 * The request `r` has a mail due that no live worker holds (the claim's probe of each request),
 * read from its last mail backwards: see claimDueMails.
 */
function hasDueMail(months: HistoryRange) {
  return sql<boolean>`EXISTS (
    SELECT 1 FROM mails m
    WHERE m.request_id = r.id AND m.status IN ('R', 'I') AND m.next_attempt_at <= now()
      AND (m.lease_until IS NULL OR m.lease_until < now()) AND ${inHistoryRange('m.created_at', months)}
    ORDER BY m.next_attempt_at DESC, m.seq DESC LIMIT 1 OFFSET 0)`;
}

/**
 * Claims up to `limit` due mails of all sending requests (P while storing, or I) under a lease and
 * a token: mails ready (R) or waiting for a retry (I) whose time has come and that no live worker
 * holds. Requests take turns: every request's first due mail comes before any request's second,
 * so a large request can't hold a small one back by more than one claim. Each request is probed
 * on mails_claim for at most `limit` mails; SKIP LOCKED there lets concurrent claims (other
 * loops, other processes) take the next mails instead of the same. The lease lets a dead
 * worker's mails be claimed again once it runs out; a cancelled request (C) is never claimed again.
 *
 * At most `limit` requests are probed a claim, in three parts:
 * 0. the oldest requests with due mail behind `after` (a request id), up to a quarter of the
 *    claim (claimHead): however far the cursor has gone, an old large request still sending
 *    gets its turns while newer requests keep the part after the cursor full;
 * 1. those with due mail after `after`, in id order;
 * 2. the rest from the first again (the claims go round).
 * The caller starts each claim where its claim cursor says (claim-cursor.ts), so with more
 * requests due than one claim probes, claims go round them all: requests whose mails keep
 * coming due only to be held back by a delivery limit can't fill more than part 0 of every
 * claim while newer requests wait behind them.
 *
 * `months`: the created_at range looked in (sendingMonths: from the oldest request sending), so
 * that PostgreSQL plans and reads those months of mails only; a mail outside it is not claimed.
 *
 * Whether a request has due mail is probed from its last mail backwards, as sendingWithNonePending
 * (lifecycle.repository.ts) does and for the same reason: the entries its sent mails left in
 * mails_claim lie at the front. Read from the front, the probe took about 1-7 ms halfway through
 * a 100,000-mail request, against 0.05-0.07 ms (EXPLAIN ANALYZE during npm run bench:send).
 */
export async function claimDueMails(db: Db, limit: number, leaseMs: number, token: string, after: string, months: HistoryRange): Promise<ClaimedMail[]> {
  const res = await sql<ClaimedMail>`${sql.raw(PREPARED)}
    WITH candidates AS (
      SELECT c.id, c.request_id, c.created_at, r.part, row_number() OVER (PARTITION BY c.request_id ORDER BY c.next_attempt_at, c.seq) AS turn
      FROM (
        -- Each part is probed for at most that many requests (probing, and locking candidates of,
        -- every sending request would cost more the further delivery lags), then taken in order.
        SELECT w.part, w.id FROM (
        (SELECT 1 AS part, r.id FROM mail_requests r
        WHERE r.status IN ('P', 'I') AND r.id > ${after}::bigint AND ${hasDueMail(months)}
        ORDER BY r.id
        LIMIT ${limit})
        UNION ALL
        SELECT CASE WHEN b.n <= ${claimHead(limit)} THEN 0 ELSE 2 END, b.id FROM (
          SELECT r.id, row_number() OVER (ORDER BY r.id) AS n FROM mail_requests r
          WHERE r.status IN ('P', 'I') AND r.id <= ${after}::bigint AND ${hasDueMail(months)}
          ORDER BY r.id
          LIMIT ${limit}
        ) b
        ) w ORDER BY w.part, w.id
        LIMIT ${limit}
      ) r CROSS JOIN LATERAL (
        SELECT l.id, l.request_id, l.seq, l.next_attempt_at, l.created_at FROM mails l
        WHERE l.request_id = r.id AND l.status IN ('R', 'I') AND l.next_attempt_at <= now()
          AND (l.lease_until IS NULL OR l.lease_until < now()) AND ${inHistoryRange('l.created_at', months)}
        ORDER BY next_attempt_at, seq
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) c
    ), picked AS (
      SELECT id, created_at, part FROM candidates ORDER BY turn, part, request_id LIMIT ${limit}
    )
    UPDATE mails m SET status = 'I', lease_until = now() + make_interval(secs => ${leaseMs / 1000}), lease_token = ${token}, attempts = attempts + 1
    FROM picked WHERE m.id = picked.id AND m.created_at = picked.created_at AND ${inHistoryRange('m.created_at', months)}
    RETURNING m.id, m.seq, m.request_id, m.created_at, picked.part
  `.execute(db);
  return res.rows.map((r) => ({
    id: String(r.id),
    seq: r.seq,
    request_id: String(r.request_id),
    created_at: r.created_at,
    part: Number(r.part) as 0 | 1 | 2,
  }));
}

/** Which of these requests were cancelled (a sending batch stops handing their mails to SMTP). */
export async function cancelledAmong(db: Db, requestIds: string[]): Promise<Set<string>> {
  const res = await sql<{ id: string }>`${sql.raw(PREPARED)}
    SELECT id FROM mail_requests WHERE id = ANY(${requestIds}::bigint[]) AND status = 'C'
  `.execute(db);
  return new Set(res.rows.map((r) => String(r.id)));
}

/** Gives claimed mails that were not handed to SMTP back, for the next claim to take (in turn). */
export async function releaseMails(db: Db, token: string, mailIds: string[], months: HistoryRange): Promise<void> {
  await sql`${sql.raw(PREPARED)}
    UPDATE mails SET lease_until = NULL, lease_token = NULL, attempts = attempts - 1
    WHERE id = ANY(${mailIds}::bigint[]) AND lease_token = ${token} AND ${inHistoryRange('created_at', months)}
  `.execute(db);
}

/** The temporary cause a recipient shows while its mail is held back by a delivery limit (an extension value, beside NCP's codes). */
export const THROTTLED_CAUSE = 'DELIVERY_THROTTLED';

/**
 * Gives claimed mails held back by a delivery limit back without an attempt counted, each due
 * again at its own time (when its limit lets it go: the claim loops don't spin on it), and marks
 * their pending recipients' temporary cause so the views say why they wait (unless an attempt
 * already gave them one: a recipient retried for a full mailbox keeps that cause, and the cause
 * filter of the views still finds it).
 */
export async function holdMails(db: Db, token: string, held: { id: string; until: Date }[], months: HistoryRange): Promise<void> {
  await sql`${sql.raw(PREPARED)}
    WITH m AS (
      UPDATE mails SET lease_until = NULL, lease_token = NULL, attempts = attempts - 1, next_attempt_at = u.until
      FROM unnest(${held.map((h) => h.id)}::bigint[], ${held.map((h) => h.until)}::timestamptz[]) AS u(id, until)
      WHERE mails.id = u.id AND mails.lease_token = ${token} AND ${inHistoryRange('mails.created_at', months)}
      RETURNING mails.id
    )
    UPDATE recipients SET temporary_result_code = ${THROTTLED_CAUSE}
    WHERE mail_id IN (SELECT id FROM m) AND status IN ('R', 'I') AND temporary_result_code IS NULL AND ${inHistoryRange('created_at', months)}
  `.execute(db);
}

/** Keeps a claim alive while its worker is still sending (a stalled relay can take minutes). */
export async function renewLeases(db: Db, token: string, leaseMs: number, months: HistoryRange): Promise<void> {
  await sql`${sql.raw(PREPARED)}
    UPDATE mails SET lease_until = now() + make_interval(secs => ${leaseMs / 1000})
    WHERE lease_token = ${token} AND status = 'I' AND ${inHistoryRange('created_at', months)}
  `.execute(db);
}

export type DeliveryRecipientRow = Pick<Selectable<RecipientsTable>, 'id' | 'mail_id' | 'address' | 'name' | 'type' | 'parameters' | 'status' | 'retry_count'>;

export async function loadRecipients(db: Db, mailIds: string[], months: HistoryRange): Promise<DeliveryRecipientRow[]> {
  const res = await sql<DeliveryRecipientRow>`${sql.raw(PREPARED)}
    SELECT id, mail_id, address, name, type, parameters, status, retry_count
    FROM recipients WHERE mail_id = ANY(${mailIds}::bigint[]) AND ${inHistoryRange('created_at', months)} ORDER BY id
  `.execute(db);
  return res.rows;
}

export interface MailResultRow {
  id: string;
  /** the lease token of the claim that sent it: written only while that claim still holds it */
  token: string;
  status: string;
  nextAttemptAt: Date | null;
  finishedAt: Date | null;
}

/** What a recording wrote: the mails still held (heldKey of each) and the recipients' ids. */
export interface RecordedResults {
  held: Set<string>;
  recipients: Set<string>;
}

/** A mail held under a claim's token, as recordResults tells its `alsoInTx` (a mail may come twice in one call, under two claims). */
export function heldKey(mailId: string, token: string): string {
  return `${mailId}/${token}`;
}

/**
 * Records attempts in one statement, whatever their number: one round trip, atomic without a
 * BEGIN and a COMMIT of its own (this is the hot path's only per-mail write). The mails may come
 * from several claims (the process's batches share a recorder, result-recorder.ts): each is
 * written only while still held under its own claim's token, and its recipients with it; a claim
 * that was lost (lease ran out, or the request was cancelled meanwhile) leaves what others decided alone.
 * The webhook events of the final outcomes (recipient.sent / recipient.failed) are written by
 * the same statement, and nothing for a project without endpoints. With `alsoInTx` the
 * statement and those writes share a transaction. Returns what was written.
 */
export async function recordResults(
  db: Db,
  /** the created_at of the mails */
  months: HistoryRange,
  mails: MailResultRow[],
  /** each with its mail's id and claim token: written only with that mail, held under that token */
  recipients: (RecipientUpdate & { mailId: string; token: string })[],
  /** more writes in the same transaction, given the mails still held (heldKey of each) */
  alsoInTx?: (tx: Tx, held: Set<string>) => Promise<void>,
): Promise<RecordedResults> {
  const statement = sql<{ id: string | null; token: string | null; recipient: string | null }>`${sql.raw(PREPARED)}
    WITH held AS (
      UPDATE mails m SET status = u.status, next_attempt_at = u.next_attempt_at, finished_at = u.finished_at,
        lease_until = NULL, lease_token = NULL
      FROM unnest(${mails.map((x) => x.id)}::bigint[], ${mails.map((x) => x.status)}::text[],
                  ${mails.map((x) => x.nextAttemptAt)}::timestamptz[], ${mails.map((x) => x.finishedAt)}::timestamptz[],
                  ${mails.map((x) => x.token)}::uuid[])
        AS u(id, status, next_attempt_at, finished_at, token)
      WHERE m.id = u.id AND m.lease_token = u.token AND ${inHistoryRange('m.created_at', months)}
      RETURNING m.id, u.token
    ),
    updated AS (
      UPDATE recipients r SET status = u.status, result_code = u.code, result_message = u.message,
        retry_count = u.retry_count, received_at = u.received_at, finished_at = u.finished_at,
        temporary_result_code = coalesce(u.temporary_code, r.temporary_result_code)
      FROM unnest(${recipients.map((x) => x.id)}::bigint[], ${recipients.map((x) => x.mailId)}::bigint[], ${recipients.map((x) => x.status)}::text[],
                  ${recipients.map((x) => x.resultCode)}::text[], ${recipients.map((x) => x.resultMessage)}::text[],
                  ${recipients.map((x) => x.retryCount)}::int[], ${recipients.map((x) => x.receivedAt)}::timestamptz[],
                  ${recipients.map((x) => x.finishedAt)}::timestamptz[], ${recipients.map((x) => x.temporaryResultCode ?? null)}::text[],
                  ${recipients.map((x) => x.token)}::uuid[])
        AS u(id, mail_id, status, code, message, retry_count, received_at, finished_at, temporary_code, token)
      WHERE r.id = u.id AND r.mail_id = u.mail_id AND (u.mail_id, u.token) IN (SELECT id, token FROM held) AND ${inHistoryRange('r.created_at', months)}
      RETURNING r.id, r.project_id, r.status
    ),
    events AS (
      ${webhookOutboxInsert(sql`SELECT project_id, CASE status WHEN 'S' THEN 'recipient.sent' ELSE 'recipient.failed' END AS event_type, id AS subject_id
        FROM updated WHERE status IN ('S', 'F')`)}
    )
    SELECT id, token, NULL::bigint AS recipient FROM held
    UNION ALL SELECT NULL, NULL, id FROM updated
  `;
  const recorded = (rows: { id: string | null; token: string | null; recipient: string | null }[]): RecordedResults => ({
    held: new Set(rows.filter((r) => r.id !== null).map((r) => heldKey(String(r.id), r.token!))),
    recipients: new Set(rows.filter((r) => r.recipient !== null).map((r) => String(r.recipient))),
  });
  if (!alsoInTx) return recorded((await statement.execute(db)).rows);
  return db.transaction().execute(async (tx) => {
    const done = recorded((await statement.execute(tx)).rows);
    if (done.held.size) await alsoInTx(tx, done.held);
    return done;
  });
}

/**
 * Cancels up to `limit` pending mails of a request that no worker holds, with their pending
 * recipients (C / CANCELED_MAIL). Returns how many were cancelled and how many are still pending:
 * beyond the limit, or held by a worker (which records them as sent or failed; a dead worker's
 * claims expire and are cancelled on a later call).
 */
export async function cancelPendingMails(db: Db | Tx, requestId: string, limit: number): Promise<{ cancelled: number; remaining: number }> {
  const res = await sql<{ id: string }>`
    WITH picked AS (
      SELECT id FROM mails
      WHERE request_id = ${requestId} AND status IN ('R', 'I') AND (lease_until IS NULL OR lease_until < now())
      ORDER BY next_attempt_at, seq LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), m AS (
      UPDATE mails SET status = 'C', next_attempt_at = NULL, lease_until = NULL, lease_token = NULL, finished_at = now()
      WHERE id IN (SELECT id FROM picked)
      RETURNING id
    ), r AS (
      UPDATE recipients SET status = 'C', result_code = 'CANCELED_MAIL', result_message = NULL, finished_at = now()
      WHERE mail_id IN (SELECT id FROM m) AND status IN ('R', 'I')
    )
    SELECT id FROM m
  `.execute(db);
  const remaining = await db
    .selectFrom('mails')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('request_id', '=', requestId)
    .where('status', 'in', ['R', 'I'])
    .executeTakeFirstOrThrow();
  return { cancelled: res.rows.length, remaining: Number(remaining.n) };
}

/**
 * The created_at range the claims look in (claimDueMails' `months`): from a minute before the
 * oldest request still stored or sent (P or I), or before now when none is, to a day after the
 * newest or now (created_at is the API process's clock, now() the database's). Every mail a claim
 * can take is in it, but those of a request that started sending (or committed) after this was
 * read with a created_at outside it: the caller reads it again after a second
 * (sending-months.ts).
 */
export async function sendingMonths(db: Db): Promise<HistoryRange> {
  const res = await sql<{ from: Date; to: Date }>`${sql.raw(PREPARED)}
    SELECT least(min(created_at), now()) - interval '1 minute' AS "from", greatest(max(created_at), now()) + interval '1 day' AS "to"
    FROM mail_requests WHERE status IN ('P', 'I')
  `.execute(db);
  const row = res.rows[0]!;
  return { from: row.from, to: row.to };
}
