import { sql } from 'kysely';
import type { Db } from '../../db/schema.ts';
import type { Logger } from '../../logger.ts';
import { historyTablesOf } from '../retention/history-partitions.ts';

/** Rows a store adds between looks at its partitions' statistics. */
export const ANALYZE_MIN_ROWS = 10_000;

export interface PartitionStatistics {
  /** a batch of `rows` mails was committed */
  added(rows: number): void;
  /** the store is over (the request left P): its partitions are looked at once more, whatever it added since the last look */
  storeEnded(): void;
  /** resolves once no analysis is running (never rejects) */
  settled(): Promise<void>;
}

/**
 * Keeps the statistics of the month's partitions a store is filling up to date. PostgreSQL plans
 * the claim and the fetch of a batch's recipients from them, and autovacuum refreshes them only
 * when it next visits the database (autovacuum_naptime, a minute by default): until then a
 * partition that has just taken a large request's mails is planned from what it held before,
 * or from no statistics at all in a new month. In a 100,000-mail send into a new partition the
 * claim then sorted its candidates on disk (18 ms a call against 4 ms, 2.4 GB of temporary
 * files) and the recipients' fetch took 4.6 ms against 0.9: PostgreSQL used 0.68-0.84 CPU seconds
 * per 1,000 mails against 0.39-0.46 once the same server had been analyzed (npm run bench:send,
 * 2026-12-06, pg_stat_statements). So each time a store has added ANALYZE_MIN_ROWS rows it looks
 * at its partitions, and analyzes those never analyzed or more than twice the size (in pages,
 * whoever wrote them) they had at their last analysis: in the background (the store goes on),
 * one at a time. SKIP_LOCKED: a table autovacuum is working on is left to it. Only tables the
 * service's role owns (ANALYZE skips others). An analysis takes a few hundred milliseconds;
 * retention's drop of an old month waits for it (its lock_timeout is longer).
 *
 * While a request's mails are not due yet (waiting for confirmation, reserved later: `sendsNow`
 * false), nothing sends them as they are stored, so its store analyzes only partitions never
 * analyzed (a new month's: every claim is planned on them, cheap while they are small) and leaves
 * the re-analyses at each doubling to one look when the store ends (storeEnded). On a 2-CPU
 * machine each analysis runs on a third backend beside a store's two parts. bench:group-filter,
 * whose requests all wait for confirmation, made 10-12 analyses a run, 2.3-3.6 s of statement
 * time (ANALYZE's duration as the service logs it at debug level), and 3-4, 1.2-2.0 s, with the
 * re-analyses deferred (2026-12-07). Meanwhile other requests' statements on those partitions are
 * planned from the statistics they had (a new month's that autovacuum analyzed while it held a few
 * rows included). Every store looks once more when it has stored every mail, however little its
 * last run added.
 */
export function partitionStatistics(db: Db, createdAt: Date, log: Logger, sendsNow: () => boolean = () => true): PartitionStatistics {
  const { mails, recipients } = historyTablesOf(createdAt);
  /** rows added since the last look */
  let pending = 0;
  let running: Promise<void> | undefined;

  /** `grown`: a partition analyzed before is stale too once twice the size */
  const refresh = async (grown: boolean) => {
    const res = await sql<{ name: string; stale: boolean }>`
      SELECT relname AS name, reltuples < 0 OR (${grown}::boolean AND pg_relation_size(oid) / current_setting('block_size')::int > 2 * relpages) AS stale
      FROM pg_class WHERE oid IN (to_regclass(${mails}), to_regclass(${recipients}))
        -- ANALYZE skips, with a warning only, a table whose owner we are not
        AND pg_has_role(relowner, 'USAGE')
    `.execute(db);
    const stale = res.rows.filter((r) => r.stale).map((r) => r.name);
    if (stale.length === 0) return;
    const started = performance.now();
    await sql`ANALYZE (SKIP_LOCKED) ${sql.join(stale.map((name) => sql.table(name)))}`.execute(db);
    log.debug({ tables: stale, ms: Math.round(performance.now() - started) }, 'analyzed the partitions a store is filling');
  };

  /** the store has ended: one look more, whatever it added since the last */
  let ended = false;

  const check = () => {
    if (running || pending === 0 || (!ended && pending < ANALYZE_MIN_ROWS)) return;
    pending = 0;
    running = refresh(ended || sendsNow())
      .catch((err: unknown) => log.warn({ err }, 'could not analyze the partitions a store is filling; autovacuum will'))
      .finally(() => {
        running = undefined;
        // batches committed meanwhile are looked at now, not at the next batch (there may be none)
        check();
      });
  };

  return {
    added(rows) {
      pending += rows;
      check();
    },
    storeEnded() {
      ended = true;
      // its last run may have added nothing (the rest was stored by a run before it)
      pending = Math.max(pending, 1);
      check();
    },
    settled: async () => {
      while (running) await running;
    },
  };
}
