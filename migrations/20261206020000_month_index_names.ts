import { sql, type Kysely } from 'kysely';

// ensure_history_partitions (20261205120000) made a new month's copy of each parent index by
// rewriting the parent's definition with a regular expression on its head, naming the copy
// <parent>_pYYYYMM. Three kinds of index name (an operator's own, say) stopped it, and with it
// the history-partitions job, so every later month's rows stayed in the default partition:
// - longer than 55 bytes: PostgreSQL cut <name>_pYYYYMM to 63 bytes, the same for every month,
//   and the second month's copy failed ("relation ... already exists");
// - quoted with a space in it: the expression did not match, and the parent's own CREATE INDEX
//   ran again;
// - holding a backslash: it was read as a reference in the expression's replacement.
// Now the definition's head (CREATE [UNIQUE] INDEX <name> ON ONLY <table>) is checked to be what
// pg_index says and cut off, not parsed; the copy is named by history_month_index_name
// (20261206010000): <parent>_pYYYYMM where that fits and is free, else PostgreSQL chooses. The function is
// changed in place, from its stored definition.

/** [as 20261205120000 stored it, as it is now] */
const CHANGES: [string, string][] = [
  [
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def`,
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def,
              CASE WHEN i.indisunique THEN 'CREATE UNIQUE INDEX ' ELSE 'CREATE INDEX ' END AS kind,
              (SELECT CASE WHEN i.indisunique THEN 'CREATE UNIQUE INDEX ' ELSE 'CREATE INDEX ' END || quote_ident(c.relname)
                 || ' ON ONLY ' || quote_ident(n.nspname) || '.' || quote_ident(t.relname)
               FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE t.oid = i.indrelid) AS head`,
  ],
  [
    `EXECUTE regexp_replace(idx.def, '^CREATE (UNIQUE )?INDEX \\S+ ON ONLY \\S+',
              format('CREATE \\1INDEX %I ON %I', idx.name || '_p' || to_char(m, 'YYYYMM'), part));`,
    `IF left(idx.def, length(idx.head)) <> idx.head THEN
              RAISE EXCEPTION 'an index definition ensure_history_partitions does not know: %', idx.def;
            END IF;
            EXECUTE idx.kind || coalesce(quote_ident(history_month_index_name(idx.name, to_char(m, 'YYYYMM'))), '')
              || ' ON ' || quote_ident(part) || substr(idx.def, length(idx.head) + 1);`,
  ],
];

async function change(db: Kysely<any>, pairs: [string, string][]): Promise<void> {
  const steps = pairs.map(
    ([from, to]) => sql`
      changed := replace(def, ${sql.lit(from)}, ${sql.lit(to)});
      IF changed = def THEN RAISE EXCEPTION 'ensure_history_partitions is not the definition this migration changes'; END IF;
      def := changed;`,
  );
  await sql`
    DO $$
    DECLARE
      def text := pg_get_functiondef('ensure_history_partitions(timestamptz, timestamptz)'::regprocedure);
      changed text;
    BEGIN
      ${sql.join(steps, sql``)}
      EXECUTE def;
    END $$`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await change(db, CHANGES);
}

export async function down(db: Kysely<any>): Promise<void> {
  await change(
    db,
    CHANGES.map(([before, now]) => [now, before]),
  );
}
