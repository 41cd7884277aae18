// Sent mail history written straight into the tables with generate_series (about a second per
// 1,000,000 recipients): individual requests of `perRequest` recipients, one mail each, all sent
// (S, MAIL_SENT). For export tests and the export benchmark, where sending them would take hours.
// seedRequest writes one small request in chosen states, for tests of jobs and read models.
import type { MailStatus, RecipientStatus, RequestStatus } from '../../src/shared/statuses.ts';
import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from '../../src/db/schema.ts';
import { dayNumber } from '../../src/shared/clock.ts';
import { formatNumericId } from '../../src/shared/ids.ts';

/** A created_at range holding every row, for statements made by hand in tests (claims, releases, recordings). */
export const ALL_MONTHS = { from: new Date('2000-01-01T00:00:00Z'), to: new Date('2100-01-01T00:00:00Z') };

export interface SeededHistory {
  requestIds: string[];
  recipients: number;
}

export async function seedSentHistory(
  pool: pg.Pool,
  opts: { projectId: string; recipients: number; perRequest?: number; createdAt?: Date; timeZone?: string },
): Promise<SeededHistory> {
  const n = opts.recipients;
  const per = Math.min(opts.perRequest ?? 10_000, n);
  const requests = Math.ceil(n / per);
  const createdAt = opts.createdAt ?? new Date();
  const day = dayNumber(createdAt, opts.timeZone ?? 'Asia/Seoul');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // One block of ids from the shared sequence: requests first, then mails.
    const { rows } = await client.query<{ base: string }>(`SELECT nextval('mail_id_seq')::text AS base`);
    const base = BigInt(rows[0]!.base);
    await client.query(`SELECT setval('mail_id_seq', $1::bigint)`, [String(base + BigInt(requests + n))]);
    const params = [String(base), day, opts.projectId, per, requests, n, createdAt];
    await client.query(
      `INSERT INTO mail_requests (id, id_day, project_id, status, sender_address, sender_name, title, body, individual, advertising,
                                  confirm_and_send, request_count, recipient_count, stored_count, created_at, finished_at)
       SELECT $1::bigint + r, $2, $3, 'S', 'sender@example.com', 'Sender', 'Seeded title ' || r, '<p>seeded</p>', true, false,
              false, least($4::int, $6::int - (r - 1) * $4::int), least($4::int, $6::int - (r - 1) * $4::int),
              least($4::int, $6::int - (r - 1) * $4::int), $7::timestamptz - make_interval(secs => r), $7::timestamptz
       FROM generate_series(1, $5::int) r`,
      params,
    );
    await client.query(
      `INSERT INTO mails (id, id_day, request_id, project_id, seq, status, recipient_count, representative_address, created_at, finished_at)
       SELECT $1::bigint + $5::int + i, $2, $1::bigint + 1 + (i - 1) / $4::int, $3, ((i - 1) % $4::int) + 1, 'S', 1,
              'user' || i || '@example.com', $7::timestamptz - make_interval(secs => 1 + (i - 1) / $4::int), $7::timestamptz
       FROM generate_series(1, $6::int) i`,
      params,
    );
    await client.query(
      `INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, status, result_code, result_message, received_at, finished_at, created_at)
       SELECT $1::bigint + $4::int + i, $1::bigint + 1 + (i - 1) / $3::int, $2, 'user' || i || '@example.com', 'User ' || i, 'R', 'S',
              'MAIL_SENT', '250 2.0.0 OK', $6::timestamptz, $6::timestamptz, $6::timestamptz - make_interval(secs => 1 + (i - 1) / $3::int)
       FROM generate_series(1, $5::int) i`,
      [String(base), opts.projectId, per, requests, n, createdAt],
    );
    await client.query('COMMIT');
    await client.query('ANALYZE mail_requests, mails, recipients');
    const ids = Array.from({ length: requests }, (_, r) => String(day) + String(base + BigInt(r + 1)).padStart(12, '0'));
    return { requestIds: ids, recipients: n };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export interface SeedRecipient {
  address: string;
  /** the recipient's status, and its mail's unless `mailStatus` says otherwise; default S */
  status?: RecipientStatus;
  resultCode?: string | null;
  name?: string | null;
  type?: 'R' | 'C' | 'B';
}

export interface SeededRequest {
  /** mail_requests.id */
  id: string;
  /** the requestId the API shows */
  requestId: string;
  /** the mailIds the API shows, one per recipient in the order given */
  mailIds: string[];
}

/**
 * One request written straight into the tables, a mail per recipient, in the states given:
 * for tests that call a job or a read model directly on rows the API would need time or
 * faults to reach.
 */
export async function seedRequest(
  db: Db,
  opts: {
    projectId: string;
    status: RequestStatus;
    recipients: SeedRecipient[];
    createdAt?: Date;
    finishedAt?: Date | null;
    title?: string;
    senderAddress?: string;
    confirmAndSend?: boolean;
    reservationAt?: Date | null;
    /** every mail's status (a request whose mails are still with a worker) */
    mailStatus?: MailStatus;
    timeZone?: string;
  },
): Promise<SeededRequest> {
  const createdAt = opts.createdAt ?? new Date();
  const finishedAt = opts.finishedAt === undefined ? (['S', 'F', 'PF', 'U', 'C'].includes(opts.status) ? createdAt : null) : opts.finishedAt;
  const idDay = dayNumber(createdAt, opts.timeZone ?? 'Asia/Seoul');
  const n = opts.recipients.length;
  return db.transaction().execute(async (tx) => {
    const nextId = async () => (await sql<{ id: string }>`SELECT nextval('mail_id_seq')::text AS id`.execute(tx)).rows[0]!.id;
    const id = await nextId();
    await tx
      .insertInto('mail_requests')
      .values({
        id,
        id_day: idDay,
        project_id: opts.projectId,
        status: opts.status,
        sender_address: opts.senderAddress ?? 'sender@example.com',
        sender_name: null,
        title: opts.title ?? `Seeded ${id}`,
        body: '<p>seeded</p>',
        template_sid: null,
        template_name: null,
        individual: true,
        advertising: false,
        confirm_and_send: opts.confirmAndSend ?? false,
        parameters: null,
        references_header: null,
        unsubscribe_message: null,
        reservation_at: opts.reservationAt ?? null,
        requester_ip: null,
        request_count: n,
        recipient_count: n,
        stored_count: n,
        idempotency_key: null,
        idempotency_hash: null,
        created_at: createdAt,
        finished_at: finishedAt,
        canceled_at: opts.status === 'C' ? finishedAt : null,
        started_at: opts.reservationAt ?? createdAt,
      })
      .execute();
    const mailIds: string[] = [];
    for (const [i, r] of opts.recipients.entries()) {
      const mailId = await nextId();
      const status: RecipientStatus = r.status ?? 'S';
      const done = ['S', 'F', 'U', 'C'].includes(status) ? (finishedAt ?? createdAt) : null;
      await tx
        .insertInto('mails')
        .values({
          id: mailId,
          id_day: idDay,
          request_id: id,
          project_id: opts.projectId,
          seq: i + 1,
          status: opts.mailStatus ?? status,
          recipient_count: 1,
          representative_address: r.address,
          next_attempt_at: null,
          lease_until: null,
          lease_token: null,
          created_at: createdAt,
          finished_at: done,
        })
        .execute();
      await tx
        .insertInto('recipients')
        .values({
          mail_id: mailId,
          request_id: id,
          project_id: opts.projectId,
          address: r.address,
          name: r.name ?? null,
          type: r.type ?? 'R',
          parameters: null,
          status,
          result_code: r.resultCode === undefined ? (status === 'S' ? 'MAIL_SENT' : null) : r.resultCode,
          result_message: null,
          received_at: done,
          finished_at: done,
          unsubscribed_at: null,
          created_at: createdAt,
          temporary_result_code: null,
        })
        .execute();
      mailIds.push(formatNumericId(idDay, mailId));
    }
    return { id, requestId: formatNumericId(idDay, id), mailIds };
  });
}

/** A project of its own (tenancy: rows of one project never show in another's views). */
export async function seedProject(db: Db, name: string): Promise<string> {
  return (await db.insertInto('projects').values({ name }).returning('id').executeTakeFirstOrThrow()).id;
}
