import { sql, type Kysely } from 'kysely';

// A large request's recipients are parked in chunks (one row per STORE_BATCH recipients, keyed by
// the 0-based position of the chunk's first recipient) instead of one text of up to 60 MB: the
// POST never builds the whole text, and the store job reads one chunk per batch. Rows written
// before this migration have first_seq 0 and hold every recipient; the job reads them as before.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE request_payloads ADD COLUMN first_seq integer NOT NULL DEFAULT 0;
    ALTER TABLE request_payloads DROP CONSTRAINT request_payloads_pkey;
    ALTER TABLE request_payloads ADD PRIMARY KEY (request_id, first_seq);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DELETE FROM request_payloads WHERE first_seq > 0;
    ALTER TABLE request_payloads DROP CONSTRAINT request_payloads_pkey;
    ALTER TABLE request_payloads DROP COLUMN first_seq;
    ALTER TABLE request_payloads ADD PRIMARY KEY (request_id);
  `.execute(db);
}
