import { sql, type Kysely } from 'kysely';

// Exports ("download request/list"): a view and its filters, written to an .xlsx by a job under
// DATA_DIR/exports/<id>.xlsx. The filters are kept as the client sent them and parsed again by
// the job with the stored time zone and requested_at as "now", so the file shows what the view
// showed when it was requested.
//
// attempts counts the job's claims: a run interrupted by a restart is retried by pg-boss and
// starts the file again (its partial file is named after its attempt); after too many attempts
// the export fails with a message instead of staying in I. heartbeat_at is renewed while a run
// makes progress, so the periodic expiry job can also fail an export whose job was lost.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE exports (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      view text NOT NULL CHECK (view IN ('requests','recipients','mails')),
      filters jsonb NOT NULL,
      lang text NOT NULL,
      time_zone text NOT NULL,
      status text NOT NULL CHECK (status IN ('R','I','C','F','E')),
      attempts integer NOT NULL DEFAULT 0,
      row_count bigint,
      file_size bigint,
      error text,
      requested_at timestamptz NOT NULL,
      started_at timestamptz,
      heartbeat_at timestamptz,
      completed_at timestamptz,
      expires_at timestamptz
    );
    -- getExportList: a project's exports, newest first
    CREATE INDEX exports_project ON exports (project_id, id DESC);
    -- the periodic job: completed files past their expiry, runs that stopped making progress
    CREATE INDEX exports_expiry ON exports (expires_at) WHERE status = 'C';
    CREATE INDEX exports_running ON exports (heartbeat_at) WHERE status = 'I';
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE exports;`.execute(db);
}
