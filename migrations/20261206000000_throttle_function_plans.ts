import { sql, type Kysely } from 'kysely';

// The delivery limits' two functions, called at every batch's start and end, keep the plans of
// their statements (a domain's row and slots by its key) instead of planning each at every call.
// The service's sessions plan every statement at every call (plan_cache_mode =
// force_custom_plan, src/db/connect.ts, for the claim's sake), and a PL/pgSQL function's
// statements follow the session's setting; a function's own SET overrides it while it runs.
// Measured with pg_stat_statements (bench:send's 1-recipient requests, PostgreSQL 15, one run
// each): delivery_throttle_take2 0.53-0.62 ms a call against 0.40, finish2 0.22 against 0.13-0.14;
// with `auto` (PostgreSQL's default) take2 kept planning (0.53 ms). Their statements are lookups
// by key, planned with sequential scans off: a plan kept from a table analyzed while it held a
// few keys would otherwise read the whole table until the next analyze (a take's UPDATE took
// 11.7 ms after 100,000 keys were added, against 0.04 by the key's index).
// A CREATE OR REPLACE of either function drops this setting unless it says it again.
const FUNCTIONS = [
  'delivery_throttle_take2(text, double precision, integer, integer, text[], integer[], double precision[], integer[])',
  'delivery_throttle_finish2(text, text[], integer[], text[], text[], integer[], integer[], double precision, double precision, integer, integer)',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const f of FUNCTIONS) {
    await sql`ALTER FUNCTION ${sql.raw(f)} SET plan_cache_mode = force_generic_plan`.execute(db);
    await sql`ALTER FUNCTION ${sql.raw(f)} SET enable_seqscan = off`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const f of FUNCTIONS) {
    await sql`ALTER FUNCTION ${sql.raw(f)} RESET plan_cache_mode`.execute(db);
    await sql`ALTER FUNCTION ${sql.raw(f)} RESET enable_seqscan`.execute(db);
  }
}
