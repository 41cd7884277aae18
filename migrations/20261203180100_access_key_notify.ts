import { sql, type Kysely } from 'kysely';

// Every instance caches resolved access keys; a revocation (the keys CLI, or SQL by hand) is
// announced on channel access_key_changed with the key, so each instance drops it at once.
// A trigger rather than a NOTIFY in the CLI: no path that changes a key can forget it.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION notify_access_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('access_key_changed', OLD.access_key);
      RETURN NULL;
    END $$;
    CREATE TRIGGER access_key_changed AFTER UPDATE OR DELETE ON access_keys
      FOR EACH ROW EXECUTE FUNCTION notify_access_key_changed();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TRIGGER access_key_changed ON access_keys;
    DROP FUNCTION notify_access_key_changed();
  `.execute(db);
}
