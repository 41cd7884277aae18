import { sql, type Kysely } from 'kysely';

// BLOB_STORE=postgres (issue 17): attachments, template backups and exports kept in the database,
// so ROLE=api and ROLE=worker hosts need no shared filesystem. A blob is written in chunks of
// 512 KB (never whole in memory) under a row of its own that is `complete` only once every chunk
// is in: a put that dies leaves an incomplete row (and its chunks) that the clean-up removes, and a
// key is replaced at once by the next complete put of it (one complete row per key).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE blobs (
      id uuid PRIMARY KEY,
      key text NOT NULL,
      size bigint NOT NULL DEFAULT 0,
      chunks integer NOT NULL DEFAULT 0,
      complete boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX blobs_key_complete ON blobs (key text_pattern_ops) WHERE complete`.execute(db);
  await sql`CREATE INDEX blobs_incomplete ON blobs (created_at) WHERE NOT complete`.execute(db);
  await sql`
    CREATE TABLE blob_chunks (
      blob_id uuid NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
      n integer NOT NULL,
      data bytea NOT NULL,
      PRIMARY KEY (blob_id, n)
    )`.execute(db);
  // Attachments are stored base64 and exports are zip files: compressing chunks again costs CPU for little.
  await sql`ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE blob_chunks`.execute(db);
  await sql`DROP TABLE blobs`.execute(db);
}
