import { sql, type Kysely } from 'kysely';

// Unsubscribers: per project, one row per address (case-insensitive). Send-block: service-wide,
// one live entry per address (case-insensitive) until blocked_until, plus an append-only history
// of its creation (C) and removal (D). service_config holds service-wide settings
// (SEND_BLOCK_TIME) set through POST /config.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE unsubscribers (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      address text NOT NULL,
      reg_by_manager boolean NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    -- the delivery lookup (project, lower(address) = ANY(...)) and the uniqueness rule
    CREATE UNIQUE INDEX unsubscribers_project_address ON unsubscribers (project_id, lower(address));
    -- the list view: newest first within a project, with or without a date range
    CREATE INDEX unsubscribers_project_created ON unsubscribers (project_id, created_at DESC, id DESC);

    CREATE TABLE send_blocks (
      address_key text PRIMARY KEY,
      address text NOT NULL,
      project_id bigint,
      blocked_until timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    -- the expiry sweep
    CREATE INDEX send_blocks_until ON send_blocks (blocked_until);

    CREATE TABLE send_block_history (
      sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      address_key text NOT NULL,
      address text NOT NULL,
      action char(1) NOT NULL CHECK (action IN ('C','D')),
      requester_type text NOT NULL CHECK (requester_type IN ('CUSTOMER','SYSTEM','ADMIN')),
      project_id bigint,
      send_result_code text,
      send_result_message text,
      created_at timestamptz NOT NULL
    );
    CREATE INDEX send_block_history_address ON send_block_history (address_key, created_at DESC, sid DESC);

    CREATE TABLE service_config (
      type text PRIMARY KEY,
      value text NOT NULL,
      unit text NOT NULL,
      updated_by_project_id bigint,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE service_config; DROP TABLE send_block_history; DROP TABLE send_blocks; DROP TABLE unsubscribers;`.execute(db);
}
