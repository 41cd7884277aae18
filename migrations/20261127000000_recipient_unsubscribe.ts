import { sql, type Kysely } from 'kysely';

// A recipient's own unsubscribe state, as the recipient view shows it: set when the recipient
// uses the unsubscribe link of that mail, and cleared (with a new date) when the address is
// resubscribed. The project-wide list of unsubscribed addresses lives in its own table.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE recipients
      ADD COLUMN unsubscribed boolean NOT NULL DEFAULT false,
      ADD COLUMN unsubscribed_at timestamptz;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE recipients DROP COLUMN unsubscribed, DROP COLUMN unsubscribed_at;`.execute(db);
}
