import { sql, type Kysely } from 'kysely';

// Console sign-in sessions (issue 14): kept in Postgres so any instance serving HTTP accepts a
// session opened on another, and a sign-out or key revocation ends it everywhere.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE console_sessions (
      id text PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      access_key text NOT NULL REFERENCES access_keys (access_key) ON DELETE CASCADE,
      csrf_token text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE console_sessions`.execute(db);
}
