import { type RawBuilder, sql } from 'kysely';

/**
 * A range of created_at, for the statements on mails and recipients: both are partitioned by
 * month of created_at (migrations/20261205120000_partition_history.ts), and every statement is
 * planned at every call (force_custom_plan, src/db/connect.ts), so a statement that bounds
 * created_at by values is planned and run on the months in the range only, where one that
 * doesn't is planned on every month (milliseconds each call with a few dozen months).
 */
export interface HistoryRange {
  /** inclusive */
  from: Date;
  /** exclusive */
  to: Date;
}

/**
 * The range holding these created_at values. A JavaScript Date keeps milliseconds and created_at
 * microseconds, so the range ends a millisecond after the last (an equality on the Dates could
 * miss the row).
 */
export function historyRangeOf(createdAt: Iterable<Date>): HistoryRange {
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const d of createdAt) {
    from = Math.min(from, d.getTime());
    to = Math.max(to, d.getTime());
  }
  if (from > to) throw new Error('historyRangeOf: no dates');
  return { from: new Date(from), to: new Date(to + 1) };
}

/**
 * `<column> >= from AND <column> < to`: the condition that lets a statement name its months.
 * Without a range (a caller that doesn't know its rows' created_at), no condition: every month.
 */
export function inHistoryRange(column: string, range: HistoryRange | undefined): RawBuilder<boolean> {
  if (!range) return sql<boolean>`true`;
  return sql<boolean>`${sql.ref(column)} >= ${range.from}::timestamptz AND ${sql.ref(column)} < ${range.to}::timestamptz`;
}
