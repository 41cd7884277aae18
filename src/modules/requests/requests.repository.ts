import { sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import { historyRangeOf, inHistoryRange } from '../../db/history-range.ts';
import type { Db, Tx } from '../../db/schema.ts';
import type { RequestStatus } from '../../shared/statuses.ts';
import type { RecipientSlices, SplitRecipient } from './split-recipients.ts';

export interface NewRequestRow {
  id_day: number;
  project_id: string;
  status: RequestStatus;
  sender_address: string;
  sender_name: string | null;
  title: string;
  body: string;
  template_sid: string | null;
  template_name: string | null;
  individual: boolean;
  advertising: boolean;
  confirm_and_send: boolean;
  parameters: string | null;
  references_header: string | null;
  use_basic_unsubscribe_msg: boolean;
  unsubscribe_message: string | null;
  reservation_at: Date | null;
  requester_ip: string | null;
  request_count: number;
  recipient_count: number;
  /** recipients already stored with the request (all of them when stored inline, else 0) */
  stored_count: number;
  idempotency_key: string | null;
  idempotency_hash: string | null;
  created_at: Date;
  /** when sending began (now for an immediate request); null for a reserved or confirm-and-send one */
  started_at: Date | null;
  /** recipientGroupFilter as JSON: the recipients are expanded from the address book by a job */
  recipient_group_filter?: string | null;
  /** recipientFileId: the recipients are copied from the file's rows by a job */
  recipient_file_id?: string | null;
  /** API (a signed request) or CONSOLE (the web console's session) */
  dispatch_type: 'API' | 'CONSOLE';
  /** testMail: the console's test send, recorded as TEST_MAIL_SEND when sent */
  test_mail: boolean;
}

/** Every column a new request is written with, in a fixed order (the statement's text never changes, so it is prepared once). */
const REQUEST_COLUMNS = [
  'id_day',
  'project_id',
  'status',
  'sender_address',
  'sender_name',
  'title',
  'body',
  'template_sid',
  'template_name',
  'individual',
  'advertising',
  'confirm_and_send',
  'parameters',
  'references_header',
  'use_basic_unsubscribe_msg',
  'unsubscribe_message',
  'reservation_at',
  'requester_ip',
  'request_count',
  'recipient_count',
  'stored_count',
  'idempotency_key',
  'idempotency_hash',
  'created_at',
  'started_at',
  'recipient_group_filter',
  'recipient_file_id',
  'dispatch_type',
  'test_mail',
] as const satisfies readonly (keyof NewRequestRow)[];
// A field added to NewRequestRow and not to REQUEST_COLUMNS would be dropped silently: it fails to compile instead.
const everyColumnWritten: [Exclude<keyof NewRequestRow, (typeof REQUEST_COLUMNS)[number]>] extends [never] ? true : never = true;
void everyColumnWritten;

/**
 * A new request, with its mails and recipients when it is stored inline (`mails`), in one
 * statement (its own transaction when `db` is not one): a 1-recipient POST's whole write is one
 * round trip. Without `mails`, the store-recipients job stores them later, and the statement
 * touches neither mails nor recipients (not even a lock on them: an empty INSERT still takes one).
 */
export async function insertRequest(db: Db | Tx, row: NewRequestRow, mails?: { nextAttemptAt: Date | null; batch: MailBatch }): Promise<string> {
  const insert = sql`
      INSERT INTO mail_requests (id, ${sql.join(REQUEST_COLUMNS.map((c) => sql.ref(c)))})
      VALUES (nextval('mail_id_seq'), ${sql.join(REQUEST_COLUMNS.map((c) => sql`${row[c] ?? null}`))})
      RETURNING id, id_day, project_id, created_at`;
  const res = mails
    ? await sql<{ id: string }>`${sql.raw(PREPARED)}
        WITH req AS (${insert}), ${mailsOfRequest(mails.nextAttemptAt, mails.batch)}
        SELECT id FROM req`.execute(db)
    : await sql<{ id: string }>`${sql.raw(PREPARED)} ${insert}`.execute(db);
  return String(res.rows[0]!.id);
}

export async function findByIdempotencyKey(db: Db | Tx, projectId: string, key: string) {
  return db
    .selectFrom('mail_requests')
    .select(['id', 'id_day', 'request_count', 'idempotency_hash', 'created_at'])
    .where('project_id', '=', projectId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** An Idempotency-Key is remembered for 24 h; after that the key may be used again. */
export async function releaseIdempotencyKey(tx: Tx, projectId: string, key: string, olderThan: Date): Promise<void> {
  await tx
    .updateTable('mail_requests')
    .set({ idempotency_key: null })
    .where('project_id', '=', projectId)
    .where('idempotency_key', '=', key)
    .where('created_at', '<', olderThan)
    .execute();
}

/**
 * Parks recipients in chunks of `chunk`, one row and one statement each: no text of the whole
 * list is ever built, and deferred recipients are only ever a chunk's worth of objects.
 */
export async function insertPayload(tx: Tx, requestId: string, recipients: RecipientSlices, chunk: number): Promise<void> {
  for (let from = 0; from < recipients.length; from += chunk) {
    await tx
      .insertInto('request_payloads')
      .values({
        request_id: requestId,
        first_seq: from,
        recipients: recipients.json?.(from, from + chunk) ?? JSON.stringify(recipients.slice(from, from + chunk)),
      })
      .execute();
  }
}

/** The chunk holding the recipient at 0-based position `seq` (with the position of its first recipient), or undefined. */
export async function loadPayloadChunk(db: Db | Tx, requestId: string, seq: number): Promise<{ firstSeq: number; recipients: SplitRecipient[] } | undefined> {
  const row = await db
    .selectFrom('request_payloads')
    .select(['first_seq', 'recipients'])
    .where('request_id', '=', requestId)
    .where('first_seq', '<=', seq)
    .orderBy('first_seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { firstSeq: row.first_seq, recipients: JSON.parse(row.recipients) as SplitRecipient[] } : undefined;
}

export async function hasPayload(db: Db | Tx, requestId: string): Promise<boolean> {
  return (await db.selectFrom('request_payloads').select('request_id').where('request_id', '=', requestId).limit(1).executeTakeFirst()) !== undefined;
}

export async function deletePayload(tx: Tx, requestId: string): Promise<void> {
  await tx.deleteFrom('request_payloads').where('request_id', '=', requestId).execute();
}

export interface MailBatch {
  /** 1-based seq of each mail in the batch */
  mailSeq: number[];
  mailRecipientCount: number[];
  mailRepresentative: string[];
  /** per recipient: the seq of its mail */
  recipientSeq: number[];
  recipients: SplitRecipient[];
}

/**
 * The CTEs `m` and `r` that store a batch of mails and their recipients for the request in the
 * CTE `req` (id, id_day, project_id, created_at): arrays through unnest, whatever the batch size
 * (row-by-row inserts are two orders of magnitude slower); an empty batch stores nothing.
 */
function mailsOfRequest(nextAttemptAt: Date | null, batch: MailBatch) {
  const params = batch.recipients.map((r) => (r.parameters ? JSON.stringify(r.parameters) : null));
  return sql`m AS (
      INSERT INTO mails (id, id_day, request_id, project_id, seq, recipient_count, representative_address, next_attempt_at, created_at)
      SELECT nextval('mail_id_seq'), req.id_day, req.id, req.project_id, u.seq, u.cnt, u.rep, ${nextAttemptAt}::timestamptz, req.created_at
      FROM req, unnest(${batch.mailSeq}::int[], ${batch.mailRecipientCount}::int[], ${batch.mailRepresentative}::text[]) AS u(seq, cnt, rep)
      RETURNING id, seq, request_id, project_id, created_at
    ), r AS (
      INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, created_at)
      SELECT m.id, m.request_id, m.project_id, r.address, r.name, r.type, r.params::jsonb, m.created_at
      FROM unnest(${batch.recipientSeq}::int[], ${batch.recipients.map((r) => r.address)}::text[], ${batch.recipients.map((r) => r.name)}::text[],
                  ${batch.recipients.map((r) => r.type)}::text[], ${params}::text[]) AS r(seq, address, name, type, params)
      JOIN m ON m.seq = r.seq
    )`;
}

/** Stores a batch of mails and their recipients of a stored request, in one statement. */
export async function insertMailsAndRecipients(
  tx: Tx,
  req: { requestId: string; projectId: string; idDay: number; nextAttemptAt: Date | null; createdAt: Date },
  batch: MailBatch,
): Promise<void> {
  await sql`${sql.raw(PREPARED)}
    WITH req AS (
      SELECT ${req.requestId}::bigint AS id, ${req.idDay}::int AS id_day, ${req.projectId}::bigint AS project_id, ${req.createdAt}::timestamptz AS created_at
    ), ${mailsOfRequest(req.nextAttemptAt, batch)}
    SELECT 1
  `.execute(tx);
}

export async function lockRequest(tx: Tx, requestId: string) {
  return tx
    .selectFrom('mail_requests')
    .select([
      'id',
      'id_day',
      'project_id',
      'status',
      'stored_count',
      'recipient_count',
      'reservation_at',
      'confirm_and_send',
      'created_at',
      'recipient_file_id',
      'recipient_group_cursor',
    ])
    .where('id', '=', requestId)
    .forUpdate()
    .executeTakeFirst();
}

/** What the store-recipients job needs to pick the request's recipient source. */
export async function findRecipientSource(db: Db, requestId: string) {
  return db
    .selectFrom('mail_requests')
    .select(['status', 'project_id', 'recipient_file_id', 'recipient_group_filter'])
    .where('id', '=', requestId)
    .executeTakeFirst();
}

export async function setStoredCount(tx: Tx, requestId: string, storedCount: number): Promise<void> {
  await tx.updateTable('mail_requests').set({ stored_count: storedCount }).where('id', '=', requestId).execute();
}

/**
 * A part's batch counts its mails into stored_count, if the request is still P (else false: the
 * batch rolls back). The row is locked from here to the commit only, so parts don't queue behind
 * each other's inserts, and a cancel that came first wins.
 */
export async function addStoredCount(tx: Tx, requestId: string, stored: number): Promise<boolean> {
  const row = await tx
    .updateTable('mail_requests')
    .set((eb) => ({ stored_count: eb('stored_count', '+', stored) }))
    .where('id', '=', requestId)
    .where('status', '=', 'P')
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function lockProjectRequest(tx: Tx, projectId: string, id: { day: number; seq: bigint }) {
  return tx
    .selectFrom('mail_requests')
    .select(['id', 'status', 'request_count', 'created_at'])
    .where('project_id', '=', projectId)
    .where('id', '=', String(id.seq))
    .where('id_day', '=', id.day)
    .forUpdate()
    .executeTakeFirst();
}

/** The request's ready mails are due at `at` (`createdAt`: the request's, naming its month of mails). */
export async function releaseReadyMails(tx: Tx, requestId: string, createdAt: Date, at: Date): Promise<void> {
  await tx
    .updateTable('mails')
    .set({ next_attempt_at: at })
    .where('request_id', '=', requestId)
    .where('status', '=', 'R')
    .where(inHistoryRange('created_at', historyRangeOf([createdAt])))
    .execute();
}

/** Requests still preparing (P) that were created before `before`: candidates for the storing sweep. */
export async function findPreparingRequests(db: Db, before: Date, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('mail_requests')
    .select('id')
    .where('status', '=', 'P')
    .where('created_at', '<', before)
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}
