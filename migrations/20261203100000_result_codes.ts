import { sql, type Kysely } from 'kysely';

// Result codes the console guide lists that had no cause here:
// - blocked_domains: a project's blocked recipient domains (UNKNOWN_DOMAIN_ADDRESS at delivery).
//   `domain` is stored normalised (lower-case ASCII, IDN as punycode) so the delivery lookup is a
//   plain equality on the unique index.
// - recipients.temporary_result_code: the last temporary cause (CONNECTION_ABNORMAL, ...) of a
//   recipient that was retried; result_code stays NCP's RESENDING_MAIL / RESEND_MAIL_FAIL. The
//   partial index serves the views' sendResultCode filter on an *_ABNORMAL code, which matches
//   only recipients still retrying or out of retries (its predicate is the filter's, so rows
//   sent after a retry are not in it): in the recipient view's default order, and for the
//   request view's hash of matching request ids (request_id included).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE blocked_domains (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      domain text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX blocked_domains_project_domain ON blocked_domains (project_id, domain);
    CREATE INDEX blocked_domains_project_created ON blocked_domains (project_id, created_at DESC, id DESC);

    ALTER TABLE recipients ADD COLUMN temporary_result_code text;
    CREATE INDEX recipients_project_temporary ON recipients (project_id, temporary_result_code, created_at DESC, id DESC) INCLUDE (request_id, mail_id)
      WHERE temporary_result_code IS NOT NULL AND result_code IN ('RESENDING_MAIL', 'RESEND_MAIL_FAIL');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX recipients_project_temporary;
    ALTER TABLE recipients DROP COLUMN temporary_result_code;
    DROP TABLE blocked_domains;
  `.execute(db);
}
