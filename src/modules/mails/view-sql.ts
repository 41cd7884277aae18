import { sql, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import { totalFromPage, type Paging } from '../../http/paging.ts';
import type { ViewFilters } from './view-filters.ts';

/**
 * What the list views share in SQL: LIKE escaping, a page with the bounded count behind
 * totalElements, and the sendResultCode match.
 *
 * An exact count(*) over a broad filter on 10M recipient rows takes seconds, so counting stops
 * at COUNT_CAP matching rows (or at the end of the requested page, when deeper) and after
 * COUNT_BUDGET_MS: within both, totalElements is exact; otherwise it is a lower bound (the rows
 * counted, or those up to this page plus one when a next page exists, so `last` stays right)
 * and the page says `totalElementsExact: false`. A page that is not full needs no count.
 */
export const COUNT_CAP = 10_000;
export const COUNT_BUDGET_MS = 25;

/** `%`, `_` and `\` of a user's text match themselves in LIKE. */
export const likeContains = (text: string) => `%${text.replace(/[\\%_]/g, (c) => '\\' + c)}%`;

/** Rows to count at most for a page: a count reaching it is a lower bound. */
export const countLimit = (paging: Paging): number => Math.max(COUNT_CAP, (paging.page + 1) * paging.size) + 1;

export interface Total {
  total: number;
  exact: boolean;
}

/**
 * The total of a page of `rowCount` rows (`hasMore`: a row exists after it): from the page itself
 * when it tells, else from `count(conn, limit)`, which counts at most `limit` rows, within the
 * time budget.
 */
export async function boundedCount(
  db: Db,
  paging: Paging,
  rowCount: number,
  hasMore: boolean,
  count: (conn: Db | Tx, limit: number) => Promise<number>,
): Promise<Total> {
  const known = totalFromPage(rowCount, paging);
  if (known !== undefined && !hasMore) return { total: known, exact: true };
  const limit = countLimit(paging);
  try {
    const n = await db.transaction().execute(async (tx) => {
      await sql`SET LOCAL statement_timeout = ${sql.lit(COUNT_BUDGET_MS)}`.execute(tx);
      return count(tx, limit);
    });
    return { total: n, exact: n < limit };
  } catch (err) {
    if ((err as { code?: string }).code !== '57014') throw err; // query_canceled: out of budget
    const offset = paging.page * paging.size;
    return { total: offset + rowCount + (hasMore ? 1 : 0), exact: false };
  }
}

export type Direction = 'asc' | 'desc';
export const dir = (d: 'ASC' | 'DESC'): Direction => (d === 'ASC' ? 'asc' : 'desc');

/**
 * Runs the page query, then the count (same WHERE, capped: boundedCount) only when the page can't
 * tell the total. Each ORDER BY ends with a unique key (request id; mail seq) in the first key's
 * direction: a stable order, and with the default createUtc DESC the (project_id, created_at, id)
 * index serves the request list read backwards.
 */
export async function fetchPage<R>(
  db: Db,
  paging: Paging,
  rows: (limit: number) => Promise<R[]>,
  base: SelectQueryBuilder<any, any, any>,
): Promise<{ rows: R[]; total: number; exact: boolean }> {
  // one row more than the page: whether a next page exists
  const found = await rows(paging.size + 1);
  const page = found.slice(0, paging.size);
  const { total, exact } = await boundedCount(db, paging, page.length, found.length > paging.size, (conn, limit) => countOf(conn, base, limit));
  return { rows: page, total, exact };
}

/** count(*) of the query's rows, at most `limit` of them. */
async function countOf(db: Db | Tx, qb: SelectQueryBuilder<any, any, any>, limit: number): Promise<number> {
  const row = await db
    .selectFrom(qb.select(sql`1`.as('one')).limit(limit).as('c'))
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The causes of a temporary failure (the guide's *_ABNORMAL codes). NCP records a retried
 * recipient as RESENDING_MAIL, then RESEND_MAIL_FAIL once out of retries; the cause is kept beside
 * it in recipients.temporary_result_code. A sendResultCode filter on a cause finds the recipients
 * being retried or failed for it (not those sent after all: their result is MAIL_SENT).
 */
export const TEMPORARY_CAUSE_CODES: readonly string[] = [
  'CONNECTION_ABNORMAL',
  'NETWORK_ABNORMAL',
  'SMTP_ABNORMAL',
  'MAILBOX_ABNORMAL',
  'RECEIVE_MAIL_SERVICE_ABNORMAL',
  'SECURITY_AND_POLICY_ABNORMAL',
];

/** A recipient (alias r) whose last temporary cause is one of `causes` and that is retrying or failed for it. */
export const temporaryCauseMatch = (causes: readonly string[]) =>
  sql<boolean>`r.temporary_result_code = ANY(${[...causes]}::text[]) AND r.result_code IN ('RESENDING_MAIL', 'RESEND_MAIL_FAIL')`;

/** A recipient (alias r) matching a sendResultCode filter: its result code, or its temporary cause (see above). */
export function resultCodeMatch(codes: readonly string[]) {
  const causes = codes.filter((c) => TEMPORARY_CAUSE_CODES.includes(c));
  const own = sql<boolean>`r.result_code = ANY(${[...codes]}::text[])`;
  return causes.length === 0 ? own : sql<boolean>`(${own} OR (${temporaryCauseMatch(causes)}))`;
}

const STORED_BOUNCE_TYPE = { HARD: 'H', SOFT: 'S' } as const;

/**
 * The bounceType / complained filters on a recipient (alias r); none when neither is set. Each
 * implies its column IS NOT NULL, so the partial indexes recipients_bounced /
 * recipients_complained (project_id, created_at, id) serve them.
 */
export function feedbackMatch(f: Pick<ViewFilters, 'bounceType' | 'complained'>): RawBuilder<boolean>[] {
  const out: RawBuilder<boolean>[] = [];
  if (f.bounceType === 'ANY') out.push(sql<boolean>`r.bounce_type IS NOT NULL`);
  else if (f.bounceType) out.push(sql<boolean>`r.bounce_type = ${STORED_BOUNCE_TYPE[f.bounceType]}`);
  if (f.complained) out.push(sql<boolean>`r.complaint_type IS NOT NULL`);
  return out;
}
