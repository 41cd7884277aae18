import { sql, type Kysely } from 'kysely';

// When a request began sending (created for an immediate one, its reservation time for a
// reserved one, the moment of "send now"), and whether "send now" started it: the request view's
// send date, elapsed time and reservation state come from these. A request cancelled before it
// started never gets started_at, so it shows no send date and no elapsed time.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE mail_requests ADD COLUMN started_at timestamptz, ADD COLUMN sent_now boolean NOT NULL DEFAULT false`.execute(db);
  await sql`
    UPDATE mail_requests mr SET started_at = COALESCE(mr.reservation_at, mr.created_at)
    WHERE mr.status IN ('I', 'S', 'F', 'PF', 'U')
       OR (mr.status = 'P' AND NOT mr.confirm_and_send AND mr.reservation_at IS NULL)
       OR (mr.status = 'C' AND EXISTS (SELECT 1 FROM mails m WHERE m.request_id = mr.id AND m.status <> 'C'))
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE mail_requests DROP COLUMN started_at, DROP COLUMN sent_now`.execute(db);
}
