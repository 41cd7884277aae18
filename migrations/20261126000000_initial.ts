import { sql, type Kysely } from 'kysely';

// Ids of requests and mails come from one sequence (public id = yyyyMMdd + 12 digits of it).
// Per-recipient state lives here, not in pg-boss: jobs carry ids and claim rows with
// guarded updates (see src/modules/delivery).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE projects (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE access_keys (
      access_key text PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      secret_enc text NOT NULL,
      secret_hint text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    );
    CREATE INDEX access_keys_project ON access_keys (project_id);

    CREATE SEQUENCE mail_id_seq;

    CREATE TABLE mail_requests (
      id bigint PRIMARY KEY,
      id_day integer NOT NULL,
      project_id bigint NOT NULL REFERENCES projects(id),
      status text NOT NULL CHECK (status IN ('P','R','I','S','F','PF','U','C')),
      sender_address text NOT NULL,
      sender_name text,
      title text NOT NULL,
      body text NOT NULL,
      template_sid bigint,
      template_name text,
      individual boolean NOT NULL,
      advertising boolean NOT NULL,
      confirm_and_send boolean NOT NULL,
      parameters jsonb,
      references_header text,
      use_basic_unsubscribe_msg boolean NOT NULL DEFAULT true,
      unsubscribe_message text,
      reservation_at timestamptz,
      dispatch_type text NOT NULL DEFAULT 'API',
      requester_ip text,
      request_count integer NOT NULL,
      recipient_count integer NOT NULL,
      stored_count integer NOT NULL DEFAULT 0,
      idempotency_key text,
      idempotency_hash text,
      created_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      canceled_at timestamptz
    );
    CREATE INDEX mail_requests_project_created ON mail_requests (project_id, created_at DESC, id DESC);
    CREATE UNIQUE INDEX mail_requests_idempotency ON mail_requests (project_id, idempotency_key)
      WHERE idempotency_key IS NOT NULL;

    -- Recipients of a large request wait here, validated, until a job has stored them as
    -- mails and recipient rows (status P). Deleted once stored.
    CREATE TABLE request_payloads (
      request_id bigint PRIMARY KEY REFERENCES mail_requests(id) ON DELETE CASCADE,
      recipients text NOT NULL
    );

    CREATE TABLE mails (
      id bigint PRIMARY KEY,
      id_day integer NOT NULL,
      request_id bigint NOT NULL REFERENCES mail_requests(id) ON DELETE CASCADE,
      project_id bigint NOT NULL,
      seq integer NOT NULL,
      status text NOT NULL DEFAULT 'R' CHECK (status IN ('R','I','S','F','PF','U','C')),
      recipient_count integer NOT NULL,
      representative_address text NOT NULL,
      next_attempt_at timestamptz,
      lease_until timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz
    );
    CREATE UNIQUE INDEX mails_request_seq ON mails (request_id, seq);
    CREATE INDEX mails_request_status ON mails (request_id, status);
    CREATE INDEX mails_pending ON mails (request_id, seq) WHERE status IN ('R','I');

    CREATE TABLE recipients (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      mail_id bigint NOT NULL REFERENCES mails(id) ON DELETE CASCADE,
      request_id bigint NOT NULL,
      project_id bigint NOT NULL,
      address text NOT NULL,
      name text,
      type char(1) NOT NULL CHECK (type IN ('R','C','B')),
      parameters jsonb,
      status text NOT NULL DEFAULT 'R' CHECK (status IN ('R','I','S','F','U','C')),
      result_code text,
      result_message text,
      retry_count integer NOT NULL DEFAULT 0,
      received_at timestamptz,
      finished_at timestamptz
    );
    CREATE INDEX recipients_mail ON recipients (mail_id);
    CREATE INDEX recipients_request ON recipients (request_id);
    CREATE INDEX recipients_address ON recipients (project_id, lower(address));
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE recipients; DROP TABLE mails; DROP TABLE request_payloads; DROP TABLE mail_requests;
    DROP SEQUENCE mail_id_seq; DROP TABLE access_keys; DROP TABLE projects;
  `.execute(db);
}
