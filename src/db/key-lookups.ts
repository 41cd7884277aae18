import { type RawBuilder, sql } from 'kysely';
import { PREPARED } from './connect.ts';
import type { Db, Tx } from './schema.ts';

/**
 * A question to the database answered by the keys it finds: `query` selects a text column `key`
 * (null: nothing to ask), `read` makes the answer of the keys found. Lookups of different modules
 * are asked together in one statement (readKeyLookups), each module keeping its own SQL and its
 * own reading of it.
 */
export interface KeyLookup<T> {
  query: RawBuilder<{ key: string }> | null;
  read(found: ReadonlySet<string>): T;
}

type Answers<T extends readonly KeyLookup<unknown>[]> = { [K in keyof T]: T[K] extends KeyLookup<infer R> ? R : never };

/**
 * Asks every lookup in one statement (a UNION ALL of their queries, each row tagged with its
 * lookup), none when none has a question; each lookup reads its own keys.
 */
export async function readKeyLookups<const T extends readonly KeyLookup<unknown>[]>(db: Db | Tx, lookups: T): Promise<Answers<T>> {
  const found = lookups.map(() => new Set<string>());
  const parts = lookups.flatMap((l, i) => (l.query ? [sql`SELECT ${sql.lit(i)}::int AS n, l.key FROM (${l.query}) l`] : []));
  if (parts.length) {
    const res = await sql<{ n: number; key: string }>`${sql.raw(PREPARED)}${sql.join(parts, sql` UNION ALL `)}`.execute(db);
    for (const r of res.rows) found[r.n]!.add(r.key);
  }
  return lookups.map((l, i) => l.read(found[i]!)) as Answers<T>;
}
