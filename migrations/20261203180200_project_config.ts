import { sql, type Kysely } from 'kysely';

// SEND_BLOCK_TIME becomes a setting of each project, as NCP's is: one tenant's POST /config
// must not change how long another tenant's hard bounces block. The send-block list itself stays
// service-wide. A value set before this migration stays with the project that set it.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE project_config (
      project_id bigint NOT NULL,
      type text NOT NULL,
      value text NOT NULL,
      unit text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (project_id, type)
    );
    INSERT INTO project_config (project_id, type, value, unit, updated_at)
      SELECT updated_by_project_id, type, value, unit, updated_at FROM service_config WHERE updated_by_project_id IS NOT NULL;
    DROP TABLE service_config;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE service_config (
      type text PRIMARY KEY,
      value text NOT NULL,
      unit text NOT NULL,
      updated_by_project_id bigint,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO service_config (type, value, unit, updated_by_project_id, updated_at)
      SELECT DISTINCT ON (type) type, value, unit, project_id, updated_at FROM project_config ORDER BY type, updated_at DESC;
    DROP TABLE project_config;
  `.execute(db);
}
