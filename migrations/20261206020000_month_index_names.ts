import { sql, type Kysely } from 'kysely';

// ensure_history_partitions (20261205120000) names a new month's copy of each parent index
// <parent>_pYYYYMM. A parent index whose name is longer than 55 bytes (an operator's own, say)
// made a name PostgreSQL cut to 63 bytes, the same for every month: the second month failed
// ("relation ... already exists"), and with it the history-partitions job, so every later
// month's rows stayed in the default partition. Such a name, or one another relation holds, is
// now left to PostgreSQL to choose (<month>_<columns>_idx, unique). The function's one line is
// changed in place, from its stored definition.

const NAMED = `format('CREATE \\1INDEX %I ON %I', idx.name || '_p' || to_char(m, 'YYYYMM'), part)`;
const NAMED_IF_FREE = `format('CREATE \\1INDEX %s ON %I',
                CASE WHEN octet_length(idx.name || '_p' || to_char(m, 'YYYYMM')) <= 63
                  AND to_regclass(quote_ident(idx.name || '_p' || to_char(m, 'YYYYMM'))) IS NULL
                THEN quote_ident(idx.name || '_p' || to_char(m, 'YYYYMM')) ELSE '' END, part)`;

async function swap(db: Kysely<any>, from: string, to: string): Promise<void> {
  await sql`
    DO $$
    DECLARE
      def text := pg_get_functiondef('ensure_history_partitions(timestamptz, timestamptz)'::regprocedure);
      changed text := replace(def, ${sql.lit(from)}, ${sql.lit(to)});
    BEGIN
      IF changed = def THEN RAISE EXCEPTION 'ensure_history_partitions is not the definition this migration changes'; END IF;
      EXECUTE changed;
    END $$`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await swap(db, NAMED, NAMED_IF_FREE);
}

export async function down(db: Kysely<any>): Promise<void> {
  await swap(db, NAMED_IF_FREE, NAMED);
}
