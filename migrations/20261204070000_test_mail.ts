import { sql, type Kysely } from 'kysely';

// createMailRequest's testMail (the console's test send): the request's sent recipient is
// recorded as TEST_MAIL_SEND instead of MAIL_SENT. A constant default adds no table rewrite.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE mail_requests ADD COLUMN test_mail boolean NOT NULL DEFAULT false`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE mail_requests DROP COLUMN test_mail`.execute(db);
}
