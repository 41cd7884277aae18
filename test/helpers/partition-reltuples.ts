// The statistics of the month partitions holding a request's mails and recipients, as a test reads
// them after a store (src/modules/requests/partition-statistics.ts): pg_class.reltuples is -1 for
// a table never analyzed.
import { sql } from 'kysely';
import type { Db } from '../../src/db/schema.ts';

export async function requestPartitionStatistics(db: Db, requestId: string): Promise<{ name: string; reltuples: number }[]> {
  const res = await sql<{ name: string; reltuples: number }>`
    SELECT c.relname AS name, c.reltuples FROM pg_class c
    WHERE c.oid IN (SELECT DISTINCT tableoid FROM mails WHERE request_id = ${requestId} UNION SELECT DISTINCT tableoid FROM recipients WHERE request_id = ${requestId})
  `.execute(db);
  return res.rows;
}
