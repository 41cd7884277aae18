// Sent mail history written straight into the tables with generate_series (about a second per
// 1,000,000 recipients): individual requests of `perRequest` recipients, one mail each, all sent
// (S, MAIL_SENT). For export tests and the export benchmark, where sending them would take hours.
import type pg from 'pg';
import { dayNumber } from '../../src/shared/clock.ts';

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
              'user' || i || '@example.com', $7::timestamptz, $7::timestamptz
       FROM generate_series(1, $6::int) i`,
      params,
    );
    await client.query(
      `INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, status, result_code, result_message, received_at, finished_at, created_at)
       SELECT $1::bigint + $4::int + i, $1::bigint + 1 + (i - 1) / $3::int, $2, 'user' || i || '@example.com', 'User ' || i, 'R', 'S',
              'MAIL_SENT', '250 2.0.0 OK', $6::timestamptz, $6::timestamptz, $6::timestamptz
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
