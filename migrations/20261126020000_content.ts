import { sql, type Kysely } from 'kysely';

// Content a mail carries besides its recipients: uploaded attachment files, templates and their
// categories, and template backups (exports).
//
// File bytes live under DATA_DIR/files (streamed, never in Postgres); a row here is the file's
// metadata. request_files copies name and size, so a mail's attachFiles stay visible after the
// upload itself is cleaned up. A file is never removed while a request that uses it can still
// be sent (see src/modules/files/files.repository.ts).
//
// Templates and categories share one sid sequence, as NCP's do: lowerSid (ordering) and the
// structure tree name either kind by sid.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE files (
      id text PRIMARY KEY,
      temp_request_id text NOT NULL,
      project_id bigint NOT NULL REFERENCES projects(id),
      position integer NOT NULL,
      name text NOT NULL,
      size bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      used_at timestamptz,
      deleted_at timestamptz
    );
    CREATE INDEX files_upload ON files (temp_request_id, position);
    CREATE INDEX files_created ON files (created_at);
    CREATE INDEX files_deleted ON files (deleted_at) WHERE deleted_at IS NOT NULL;

    CREATE TABLE request_files (
      request_id bigint NOT NULL REFERENCES mail_requests(id) ON DELETE CASCADE,
      position integer NOT NULL,
      file_id text NOT NULL,
      file_name text NOT NULL,
      file_size bigint NOT NULL,
      PRIMARY KEY (request_id, position)
    );
    CREATE INDEX request_files_file ON request_files (file_id);

    CREATE SEQUENCE template_sid_seq;

    CREATE TABLE template_categories (
      sid bigint PRIMARY KEY DEFAULT nextval('template_sid_seq'),
      project_id bigint NOT NULL REFERENCES projects(id),
      parent_sid bigint REFERENCES template_categories(sid),
      name text NOT NULL,
      position integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX template_categories_parent ON template_categories (project_id, parent_sid, position);
    CREATE UNIQUE INDEX template_categories_name ON template_categories (project_id, coalesce(parent_sid, -1), name);

    CREATE TABLE templates (
      sid bigint PRIMARY KEY DEFAULT nextval('template_sid_seq'),
      project_id bigint NOT NULL REFERENCES projects(id),
      category_sid bigint REFERENCES template_categories(sid),
      name text NOT NULL,
      description text,
      title text NOT NULL,
      body text NOT NULL,
      sender_address text NOT NULL,
      sender_name text,
      is_use boolean NOT NULL DEFAULT true,
      position integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX templates_category ON templates (project_id, category_sid, position);
    CREATE INDEX mail_requests_template ON mail_requests (project_id, template_sid) WHERE template_sid IS NOT NULL;

    CREATE TABLE template_exports (
      sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      status text NOT NULL CHECK (status IN ('R','I','C','E')),
      requested_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      expires_at timestamptz,
      file_size bigint
    );
    CREATE INDEX template_exports_project ON template_exports (project_id, requested_at DESC);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE template_exports; DROP INDEX mail_requests_template; DROP TABLE templates;
    DROP TABLE template_categories; DROP SEQUENCE template_sid_seq;
    DROP TABLE request_files; DROP TABLE files;
  `.execute(db);
}
