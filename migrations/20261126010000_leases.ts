import { sql, type Kysely } from 'kysely';

// A claim is identified by a token: results are recorded only by the holder of the claim, so a
// worker that lost its lease (presumed dead) can never overwrite what cancel or another worker
// decided. The partial index lets the sweeper find due mails that no job is working on.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE mails ADD COLUMN lease_token uuid;
    CREATE INDEX mails_due ON mails (next_attempt_at) WHERE status IN ('R', 'I');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX mails_due; ALTER TABLE mails DROP COLUMN lease_token;`.execute(db);
}
