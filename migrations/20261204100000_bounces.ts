import { sql, type Kysely } from 'kysely';

// What comes back after a mail was handed over: DSN bounces and ARF complaints received by the
// inbound listener (src/modules/feedback). Nullable columns without defaults: no table rewrite.
// bounce_type: H hard (the recipient failed), S soft (recorded only). The partial indexes serve
// the recipient view's bounce / complaint filters without touching recipients that never had one.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE recipients
      ADD COLUMN bounce_type text,
      ADD COLUMN bounce_status text,
      ADD COLUMN bounce_message text,
      ADD COLUMN bounced_at timestamptz,
      ADD COLUMN complaint_type text,
      ADD COLUMN complained_at timestamptz
  `.execute(db);
  await sql`CREATE INDEX recipients_bounced ON recipients (project_id, created_at DESC, id DESC) WHERE bounce_type IS NOT NULL`.execute(db);
  await sql`CREATE INDEX recipients_complained ON recipients (project_id, created_at DESC, id DESC) WHERE complaint_type IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS recipients_complained`.execute(db);
  await sql`DROP INDEX IF EXISTS recipients_bounced`.execute(db);
  await sql`
    ALTER TABLE recipients
      DROP COLUMN bounce_type, DROP COLUMN bounce_status, DROP COLUMN bounce_message,
      DROP COLUMN bounced_at, DROP COLUMN complaint_type, DROP COLUMN complained_at
  `.execute(db);
}
