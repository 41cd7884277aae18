import { sql, type Kysely } from 'kysely';

// A template backup whose job keeps failing (or keeps being interrupted) stayed in I for good.
// attempts counts the job's claims; after the last one the backup fails (F) with the reason in
// error, as exports do.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE template_exports
      ADD COLUMN attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN error text,
      DROP CONSTRAINT template_exports_status_check,
      ADD CONSTRAINT template_exports_status_check CHECK (status IN ('R','I','C','F','E'));
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    UPDATE template_exports SET status = 'E' WHERE status = 'F';
    ALTER TABLE template_exports
      DROP CONSTRAINT template_exports_status_check,
      ADD CONSTRAINT template_exports_status_check CHECK (status IN ('R','I','C','E')),
      DROP COLUMN error,
      DROP COLUMN attempts;
  `.execute(db);
}
