import { sql, type Kysely } from 'kysely';

// Indexes of the list views (request, mail and recipient view), designed with EXPLAIN on
// 10M recipient rows; each serves one filter with the view's default order, so a first page
// reads a few index entries whatever the history's size (plans in src/modules/mails/view-query.ts).
//
// recipients.created_at is the request's creation time (requestDate), copied onto each
// recipient row so the recipient view filters and sorts on one table. Every insert writes the
// request's created_at (as it writes mails.created_at); the column has no default, so an insert
// that forgets it fails at once instead of filing the recipient under the wrong date.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
  await sql`
    ALTER TABLE recipients ADD COLUMN created_at timestamptz;
    UPDATE recipients r SET created_at = mr.created_at FROM mail_requests mr WHERE mr.id = r.request_id;
    UPDATE recipients SET created_at = now() WHERE created_at IS NULL;
    ALTER TABLE recipients ALTER COLUMN created_at SET NOT NULL;

    -- recipient view: default order and the date range
    CREATE INDEX recipients_project_created ON recipients (project_id, created_at DESC, id DESC);
    -- recipient view: sendStatus / sendResultCode (one index range per code, merged in order);
    -- the request and mail views' sendResultCode hash a rare code's request/mail ids from it
    CREATE INDEX recipients_project_status ON recipients (project_id, status, created_at DESC, id DESC);
    CREATE INDEX recipients_project_result ON recipients (project_id, result_code, created_at DESC, id DESC) INCLUDE (request_id, mail_id)
      WHERE result_code IS NOT NULL;
    -- requestId, and the request-level filters through matching requests (same leading column as
    -- before); result_code for the request view's sendResultCode probe (index-only)
    DROP INDEX recipients_request;
    CREATE INDEX recipients_request ON recipients (request_id, created_at DESC, id DESC) INCLUDE (result_code);
    -- recipientAddress, ordered (same leading columns as before)
    DROP INDEX recipients_address;
    CREATE INDEX recipients_address ON recipients (project_id, lower(address), created_at DESC, id DESC);

    -- request-level filters, each with the request view's default order
    CREATE INDEX mail_requests_project_status ON mail_requests (project_id, status, created_at DESC, id DESC);
    CREATE INDEX mail_requests_project_sender ON mail_requests (project_id, lower(sender_address), created_at DESC, id DESC);
    CREATE INDEX mail_requests_project_dispatch ON mail_requests (project_id, dispatch_type, created_at DESC, id DESC);
    CREATE INDEX mail_requests_project_template ON mail_requests (project_id, template_sid, created_at DESC, id DESC) WHERE template_sid IS NOT NULL;
    CREATE INDEX mail_requests_title_trgm ON mail_requests USING gin (title gin_trgm_ops);

    -- mail view: sendStatus in mailId (seq) order (same leading columns as before)
    DROP INDEX mails_request_status;
    CREATE INDEX mails_request_status ON mails (request_id, status, seq);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX mails_request_status;
    CREATE INDEX mails_request_status ON mails (request_id, status);
    DROP INDEX mail_requests_title_trgm;
    DROP INDEX mail_requests_project_template;
    DROP INDEX mail_requests_project_dispatch;
    DROP INDEX mail_requests_project_sender;
    DROP INDEX mail_requests_project_status;
    DROP INDEX recipients_address;
    CREATE INDEX recipients_address ON recipients (project_id, lower(address));
    DROP INDEX recipients_request;
    CREATE INDEX recipients_request ON recipients (request_id);
    DROP INDEX recipients_project_result;
    DROP INDEX recipients_project_status;
    DROP INDEX recipients_project_created;
    ALTER TABLE recipients DROP COLUMN created_at;
  `.execute(db);
}
