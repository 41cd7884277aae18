import { sql, type Kysely } from 'kysely';

// Webhooks (issue 15): a project's endpoints, and an outbox of deliveries written in the same
// transaction as the outcome each reports, then sent by the webhook claim loops.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE webhooks (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      url text NOT NULL,
      events text[] NOT NULL,
      description text,
      -- the whsec_ signing secret, sealed with the master key (src/shared/secret-box.ts)
      secret_sealed text NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      disabled_reason text,
      disabled_at timestamptz,
      -- failed attempts since the last success, and when the first of them was
      consecutive_failures integer NOT NULL DEFAULT 0,
      failing_since timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    -- The outbox joins on it for every recorded batch: an empty or unused table costs one probe.
    CREATE INDEX webhooks_project ON webhooks (project_id) WHERE enabled;

    CREATE TABLE webhook_deliveries (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
      project_id bigint NOT NULL,
      event_type text NOT NULL,
      -- the recipient, request or export the event is about; the payload is built from it on
      -- the first attempt and kept, so retries and replays send the same bytes
      subject_id bigint NOT NULL,
      event_at timestamptz NOT NULL DEFAULT now(),
      payload text,
      -- P pending (due at next_attempt_at), S delivered, F failed (retries exhausted)
      status text NOT NULL DEFAULT 'P',
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz DEFAULT now(),
      lease_until timestamptz,
      last_attempt_at timestamptz,
      last_status_code integer,
      last_latency_ms integer,
      last_response text,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'P';
    CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);
    -- the 30-day pruning of finished deliveries (every 10 minutes) reads this, not the whole log
    CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE status IN ('S', 'F');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE webhook_deliveries; DROP TABLE webhooks`.execute(db);
}
