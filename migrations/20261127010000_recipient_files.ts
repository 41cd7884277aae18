import { sql, type Kysely } from 'kysely';

// Bulk recipient files (POST /recipient-files): an uploaded .xlsx/.csv is parsed once, and its
// valid rows are kept here, in file order, ready to be copied into mails and recipients by
// INSERT … SELECT when a request names the file (recipientFileId).
//
// `pos` numbers the valid rows 1..valid_count without gaps: it is the seq of the row's mail, so
// the storing job resumes after a crash at stored_count + 1 with a keyset read on the primary
// key. `row_no` is the row as the spreadsheet shows it (header = 1).
//
// mail_requests.recipient_file_id has no foreign key: a request keeps the id of the file it was
// sent to after the file itself is cleaned up (which never happens while the request is P).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE recipient_files (
      id text PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      file_name text NOT NULL,
      tags text[] NOT NULL,
      row_count integer NOT NULL,
      valid_count integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      used_at timestamptz
    );
    CREATE INDEX recipient_files_age ON recipient_files ((coalesce(used_at, created_at)));

    CREATE TABLE recipient_file_rows (
      file_id text NOT NULL REFERENCES recipient_files(id) ON DELETE CASCADE,
      pos integer NOT NULL,
      row_no integer NOT NULL,
      address text NOT NULL,
      name text,
      parameters jsonb,
      PRIMARY KEY (file_id, pos)
    );

    ALTER TABLE mail_requests ADD COLUMN recipient_file_id text;
    CREATE INDEX mail_requests_recipient_file ON mail_requests (recipient_file_id) WHERE recipient_file_id IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX mail_requests_recipient_file;
    ALTER TABLE mail_requests DROP COLUMN recipient_file_id;
    DROP TABLE recipient_file_rows;
    DROP TABLE recipient_files;
  `.execute(db);
}
