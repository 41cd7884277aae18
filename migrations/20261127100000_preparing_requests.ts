import { sql, type Kysely } from 'kysely';

// The sweeper looks every 15 s for requests left in P (preparing) whose store job is gone;
// there are few of them at any time, so a partial index finds them without scanning history.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX mail_requests_preparing ON mail_requests (created_at) WHERE status = 'P'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX mail_requests_preparing`.execute(db);
}
