import { sql, type Kysely } from 'kysely';

// The retention purge (RETENTION_DAYS) takes the oldest finished requests first, in batches:
// this index answers that without scanning the requests still sending or waiting.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX mail_requests_finished_created ON mail_requests (created_at, id)
      WHERE status IN ('S', 'F', 'PF', 'U', 'C');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX mail_requests_finished_created;`.execute(db);
}
