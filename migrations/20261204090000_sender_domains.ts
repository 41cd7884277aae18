import { sql, type Kysely } from 'kysely';

// Sender domains and their DKIM keys (issue 15). A domain has one or more keys (selectors): the
// newest verified key signs, so a rotation publishes the next selector's record before signing
// switches to it, and the old key stays until it is removed.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE sender_domains (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      domain text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      checked_at timestamptz,
      spf_found boolean NOT NULL DEFAULT false,
      dmarc_found boolean NOT NULL DEFAULT false,
      UNIQUE (project_id, domain)
    );
    CREATE TABLE dkim_keys (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      sender_domain_id bigint NOT NULL REFERENCES sender_domains (id) ON DELETE CASCADE,
      selector text NOT NULL,
      algorithm text NOT NULL,
      public_key text NOT NULL,
      sealed_private_key text NOT NULL,
      status text NOT NULL DEFAULT 'P',
      created_at timestamptz NOT NULL DEFAULT now(),
      verified_at timestamptz,
      UNIQUE (sender_domain_id, selector)
    );
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE dkim_keys; DROP TABLE sender_domains`.execute(db);
}
