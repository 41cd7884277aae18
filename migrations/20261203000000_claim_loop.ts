import { sql, type Kysely } from 'kysely';

// Delivery claims due mails of all sending requests together (src/modules/delivery), instead of
// one pg-boss job per chunk of a request:
// - mails_claim serves the claim's per-request probe: a request's pending mails in the order
//   they fall due (next_attempt_at, then seq). It replaces mails_pending (request_id, seq), whose
//   users (hasPending, cancel) only need the request_id prefix, and mails_due (next_attempt_at),
//   which only the removed chunk sweep used: an insert maintains as many indexes as before.
// - mail_requests_sending lists the requests whose mails may be claimed (P while storing, I).
// - mail_requests_reserved lets the sweep find reservations whose time passed without their job.
// - Inserting mails notifies the channel mails_due (once per statement, and PostgreSQL sends
//   one notification per transaction and payload): idle claim loops wake at the commit, whatever
//   path stored the mails (POST, store job, recipient file, groups, seed script).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX mails_claim ON mails (request_id, next_attempt_at, seq) WHERE status IN ('R', 'I');
    DROP INDEX mails_pending;
    DROP INDEX mails_due;
    CREATE INDEX mail_requests_sending ON mail_requests (id) WHERE status IN ('P', 'I');
    CREATE INDEX mail_requests_reserved ON mail_requests (reservation_at) WHERE status = 'R';
    CREATE FUNCTION notify_mails_due() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('mails_due', '');
      RETURN NULL;
    END $$;
    CREATE TRIGGER mails_due_notify AFTER INSERT ON mails FOR EACH STATEMENT EXECUTE FUNCTION notify_mails_due();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TRIGGER mails_due_notify ON mails;
    DROP FUNCTION notify_mails_due();
    DROP INDEX mail_requests_reserved;
    DROP INDEX mail_requests_sending;
    CREATE INDEX mails_due ON mails (next_attempt_at) WHERE status IN ('R', 'I');
    CREATE INDEX mails_pending ON mails (request_id, seq) WHERE status IN ('R','I');
    DROP INDEX mails_claim;
  `.execute(db);
}
