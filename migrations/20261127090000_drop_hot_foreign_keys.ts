import { sql, type Kysely } from 'kysely';

// mails.request_id and recipients.mail_id lose their foreign keys (recipients.request_id never
// had one). Their RI triggers were 30 % of storing a batch: 50,000 mails + recipients took
// 1.19-1.22 s with them and 0.86-0.87 s without (EXPLAIN ANALYZE, PostgreSQL 15, 10M-recipient
// history), which is the rate of every large request, recipient file and group expansion. The
// guarantees they gave are kept by construction: mails and their recipients are inserted by one
// statement (with their request's row locked), and the only deletes (the retention purge)
// remove recipients, then mails, then requests in one transaction.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE recipients DROP CONSTRAINT recipients_mail_id_fkey;
    ALTER TABLE mails DROP CONSTRAINT mails_request_id_fkey;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE mails ADD CONSTRAINT mails_request_id_fkey FOREIGN KEY (request_id) REFERENCES mail_requests(id) ON DELETE CASCADE;
    ALTER TABLE recipients ADD CONSTRAINT recipients_mail_id_fkey FOREIGN KEY (mail_id) REFERENCES mails(id) ON DELETE CASCADE;
  `.execute(db);
}
