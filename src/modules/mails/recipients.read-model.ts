import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../db/schema.ts';
import { type HistoryRange, historyRangeOf, inHistoryRange } from '../../db/history-range.ts';
import { compileTemplate, renderLeniently, type CompiledTemplate } from '../../shared/render-tags.ts';
import { toPage, type Page, type Paging, type SortKey } from '../../http/paging.ts';
import type { RecipientListQuery } from './list-query.ts';
import { renderValuesFor, toRecipientListItem, type RecipientListItem, type RecipientListRow, type ViewOptions } from './mails.mapper.ts';
import { matchesNothing, type ViewFilters } from './view-filters.ts';
import { boundedCount, feedbackMatch, likeContains, resultCodeMatch, TEMPORARY_CAUSE_CODES, temporaryCauseMatch } from './view-sql.ts';

/**
 * The recipient view (getRecipientList, extension): one row per recipient, newest request
 * first. recipients.created_at holds the request's created_at, so filtering and the default
 * order (created_at, id) stay on recipient indexes. How a page is found depends on the filters
 * (plans checked with EXPLAIN ANALYZE on 2M rows, see the README's "Views at scale"):
 *
 * - no filter / date range only: recipients_project_created, read backwards from the start of
 *   the page: "Limit -> Index Scan Backward using recipients_project_created", ~11 rows read. (The indexes are
 *   ascending, filled as rows arrive, and read backwards for the newest first: migration
 *   20261206010000_ascending_indexes.)
 * - mailId, requestId, recipientAddress: recipients_mail / recipients_request /
 *   recipients_address (ordered), other filters checked on the few rows found.
 * - bounceType / complained: recipients_bounced / recipients_complained, partial indexes in the
 *   default order holding only the recipients a bounce or complaint came back for (few).
 * - sendStatus / sendResultCode: one ordered range of recipients_project_status /
 *   recipients_project_result per code (and of recipients_project_temporary per *_ABNORMAL
 *   cause, view-sql.ts), UNION ALL'd (each arm LIMITed to the rows the page
 *   needs), merged and cut: "Limit -> Merge Append -> Limit -> Index Scan ...".
 * - request-level filters only (senderAddress, title, templateSid, dispatchType): the matching
 *   requests in created_at order (mail_requests indexes, trigram index for the title), and per
 *   request at most the rows the page needs from recipients_request (a LATERAL join under an
 *   incremental sort): a request of 1M recipients costs what one of 10 does. The join names the
 *   request's created_at (its recipients' own), so each probe runs on the request's month only
 *   (run-time partition pruning), not on every month of the history.
 *
 * Filters that don't drive the plan are checked on the rows the driver yields (the request-level
 * ones through an EXISTS on mail_requests' primary key).
 */

type Frag = RawBuilder<unknown>;

const SORT_COLUMNS: Record<string, string> = { createUtc: 'created_at', sendUtc: 'finished_at', receivedUtc: 'received_at', statusCode: 'status' };

/** Where the next batch starts (exclusive), in the default order: the last row's keys as text. */
export interface RecipientCursor {
  /** mail_requests.created_at::text */
  requestAt: string;
  /** recipients.created_at::text */
  at: string;
  id: string;
}

const and = (parts: Frag[]): Frag => (parts.length === 0 ? sql`true` : sql.join(parts, sql` AND `));

/** Conditions on the request (alias mr), without the date range and the requestId. */
function requestLevel(f: ViewFilters): Frag[] {
  const out: Frag[] = [];
  if (f.senderAddress) out.push(sql`lower(mr.sender_address) = ${f.senderAddress.toLowerCase()}`);
  if (f.title) out.push(sql`mr.title ILIKE ${likeContains(f.title)}`);
  if (f.templateSid) out.push(sql`mr.template_sid = ${f.templateSid}::bigint`);
  if (f.dispatchType) out.push(sql`mr.dispatch_type = ${f.dispatchType}`);
  return out;
}

type Driver = 'mail' | 'request' | 'address' | 'feedback' | 'result' | 'status' | 'lateral' | 'all';

function driverOf(f: ViewFilters): Driver {
  if (f.mailId) return 'mail';
  if (f.requestId) return 'request';
  if (f.recipientAddress) return 'address';
  if (feedbackMatch(f).length > 0) return 'feedback';
  if (f.sendResultCode) return 'result';
  if (f.sendStatus) return 'status';
  if (requestLevel(f).length > 0) return 'lateral';
  return 'all';
}

/** Every condition on recipients (alias r), except those named in `skip`. */
function recipientConditions(projectId: string, f: ViewFilters, skip: { status?: boolean; result?: boolean; requestLevel?: boolean } = {}): Frag[] {
  const out: Frag[] = [sql`r.project_id = ${projectId}::bigint`];
  if (f.range.start) out.push(sql`r.created_at >= ${f.range.start}`);
  if (f.range.end) out.push(sql`r.created_at <= ${f.range.end}`);
  if (f.requestId) {
    out.push(
      sql`r.request_id = (SELECT id FROM mail_requests WHERE id = ${String(f.requestId.seq)}::bigint AND id_day = ${f.requestId.day} AND project_id = ${projectId}::bigint)`,
    );
  }
  if (f.mailId) {
    out.push(
      sql`r.mail_id = (SELECT id FROM mails WHERE id = ${String(f.mailId.seq)}::bigint AND id_day = ${f.mailId.day} AND project_id = ${projectId}::bigint)`,
    );
  }
  if (f.recipientAddress) out.push(sql`lower(r.address) = ${f.recipientAddress.toLowerCase()}`);
  if (f.sendStatus && !skip.status) out.push(sql`r.status = ANY(${f.sendStatus}::text[])`);
  if (f.sendResultCode && !skip.result) out.push(resultCodeMatch(f.sendResultCode));
  out.push(...feedbackMatch(f));
  const req = requestLevel(f);
  if (req.length > 0 && !skip.requestLevel) {
    out.push(sql`EXISTS (SELECT 1 FROM mail_requests mr WHERE mr.id = r.request_id AND mr.project_id = ${projectId}::bigint AND ${and(req)})`);
  }
  return out;
}

interface IdRow {
  id: string;
  created_at: Date;
}

/** The months a page's rows are in (loadRows names them: history-range.ts). */
const monthsOf = (rows: IdRow[]) => (rows.length ? historyRangeOf(rows.map((r) => r.created_at)) : undefined);

/**
 * Ids of one page (or batch) in the default order (created_at, id) in `dir`: `limit` rows after
 * skipping `offset`, or after `cursor`.
 */
export function orderedIds(projectId: string, f: ViewFilters, dir: 'ASC' | 'DESC', limit: number, offset: number, cursor?: RecipientCursor): RawBuilder<IdRow> {
  const d = sql.raw(dir);
  const cmp = sql.raw(dir === 'DESC' ? '<' : '>');
  const need = limit + offset;
  const driver = driverOf(f);

  if (driver === 'lateral') {
    const outer: Frag[] = [sql`mr.project_id = ${projectId}::bigint`, ...requestLevel(f)];
    if (f.range.start) outer.push(sql`mr.created_at >= ${f.range.start}`);
    if (f.range.end) outer.push(sql`mr.created_at <= ${f.range.end}`);
    if (cursor) outer.push(sql`mr.created_at ${sql.raw(dir === 'DESC' ? '<=' : '>=')} ${cursor.requestAt}::timestamptz`);
    const inner = recipientConditions(projectId, { range: {} }, {});
    const after = cursor
      ? sql`AND (q.created_at, r.created_at, r.id) ${cmp} (${cursor.requestAt}::timestamptz, ${cursor.at}::timestamptz, ${cursor.id}::bigint)`
      : sql``;
    return sql<IdRow>`
      SELECT r.id, r.created_at FROM (
        SELECT mr.id, mr.created_at FROM mail_requests mr WHERE ${and(outer)} ORDER BY mr.created_at ${d}, mr.id ${d}
      ) q CROSS JOIN LATERAL (
        SELECT r.id, r.created_at FROM recipients r
        WHERE r.request_id = q.id AND r.created_at = q.created_at AND ${and(inner)} ${after}
        ORDER BY r.created_at ${d}, r.id ${d} LIMIT ${need}
      ) r
      ORDER BY q.created_at ${d}, q.id ${d}, r.created_at ${d}, r.id ${d} LIMIT ${limit} OFFSET ${offset}`;
  }

  const after = cursor ? [sql`(r.created_at, r.id) ${cmp} (${cursor.at}::timestamptz, ${cursor.id}::bigint)`] : [];
  const arm = (extra: Frag | undefined, skip: { status?: boolean; result?: boolean }) =>
    sql`(SELECT r.id, r.created_at FROM recipients r WHERE ${and([...recipientConditions(projectId, f, skip), ...(extra ? [extra] : []), ...after])}
         ORDER BY r.created_at ${d}, r.id ${d} LIMIT ${need})`;
  let arms: Frag[];
  if (driver === 'result') {
    const codes = f.sendResultCode!;
    arms = codes.map((code) => arm(sql`r.result_code = ${code}`, { result: true }));
    // A cause's arm reads recipients_project_temporary; a row whose own code is also asked for is
    // the other arm's.
    for (const code of codes.filter((c) => TEMPORARY_CAUSE_CODES.includes(c))) {
      arms.push(arm(sql`${temporaryCauseMatch([code])} AND NOT (r.result_code = ANY(${codes}::text[]))`, { result: true }));
    }
  } else if (driver === 'status') arms = f.sendStatus!.map((code) => arm(sql`r.status = ${code}`, { status: true }));
  else arms = [arm(undefined, {})];
  return sql<IdRow>`SELECT u.id, u.created_at FROM (${sql.join(arms, sql` UNION ALL `)}) u ORDER BY u.created_at ${d}, u.id ${d} LIMIT ${limit} OFFSET ${offset}`;
}

/** A page in another order than createUtc: all matching rows sorted (not index-backed). */
function sortedIds(projectId: string, f: ViewFilters, sort: readonly SortKey[], paging: Paging): RawBuilder<IdRow> {
  const keys = sort.map((k) => sql`r.${sql.raw(SORT_COLUMNS[k.property]!)} ${sql.raw(k.direction)} NULLS LAST`);
  const d = sql.raw(sort[0]?.direction ?? 'DESC');
  return sql<IdRow>`
    SELECT r.id, r.created_at FROM recipients r WHERE ${and(recipientConditions(projectId, f))}
    ORDER BY ${sql.join(keys, sql`, `)}, r.created_at ${d}, r.id ${d}
    LIMIT ${paging.size + 1} OFFSET ${paging.page * paging.size}`;
}

export function countQuery(projectId: string, f: ViewFilters, limit: number): RawBuilder<{ n: string }> {
  if (driverOf(f) === 'lateral') {
    const outer: Frag[] = [sql`mr.project_id = ${projectId}::bigint`, ...requestLevel(f)];
    if (f.range.start) outer.push(sql`mr.created_at >= ${f.range.start}`);
    if (f.range.end) outer.push(sql`mr.created_at <= ${f.range.end}`);
    return sql`SELECT count(*) AS n FROM (
      SELECT 1 FROM mail_requests mr CROSS JOIN LATERAL (SELECT 1 FROM recipients r WHERE r.request_id = mr.id AND r.created_at = mr.created_at LIMIT ${limit}) r
      WHERE ${and(outer)} LIMIT ${limit}) c`;
  }
  return sql`SELECT count(*) AS n FROM (SELECT 1 FROM recipients r WHERE ${and(recipientConditions(projectId, f))} LIMIT ${limit}) c`;
}

/**
 * The page's rows with their request and mail, in the order of `ids`, rendered. `months`: the
 * range of the rows' created_at, when known (the statement then reads those months only).
 */
async function loadRows(db: Db, ids: string[], view: ViewOptions, months?: HistoryRange): Promise<{ items: RecipientListItem[]; rows: RecipientListRow[] }> {
  if (ids.length === 0) return { items: [], rows: [] };
  const { rows } = await sql<RecipientListRow>`
    SELECT r.id, r.project_id, r.address, r.name, r.type, r.parameters, r.status, r.result_code, r.result_message, r.retry_count, r.temporary_result_code,
      r.bounce_type, r.bounce_status, r.bounce_message, r.bounced_at, r.complaint_type, r.complained_at,
      r.received_at, r.finished_at, r.created_at::text AS cursor_at,
      (r.unsubscribed OR un.created_at IS NOT NULL) AS unsubscribed,
      CASE WHEN r.unsubscribed THEN r.unsubscribed_at ELSE un.created_at END AS unsubscribed_at,
      m.id AS mail_id, m.id_day AS mail_id_day,
      mr.id AS request_id, mr.id_day AS request_id_day, mr.created_at AS request_created_at, mr.created_at::text AS cursor_request_at,
      mr.reservation_at, mr.template_sid, mr.template_name, mr.title, mr.individual, mr.parameters AS request_parameters,
      mr.sender_address, mr.sender_name
    FROM unnest(${ids}::bigint[]) WITH ORDINALITY AS p(id, ord)
    JOIN recipients r ON r.id = p.id AND ${inHistoryRange('r.created_at', months)}
    JOIN mails m ON m.id = r.mail_id AND ${inHistoryRange('m.created_at', months)}
    JOIN mail_requests mr ON mr.id = r.request_id
    -- A recipient refused for being on the unsubscribe list (U) shows the address's state and
    -- date, as one that used its own link does.
    LEFT JOIN LATERAL (
      SELECT u.created_at FROM unsubscribers u
      WHERE r.result_code = 'UNSUBSCRIBE_ADDRESS' AND NOT r.unsubscribed AND u.project_id = r.project_id AND lower(u.address) = lower(r.address)
    ) un ON true
    ORDER BY p.ord`.execute(db);
  const titles = new Map<string, CompiledTemplate>();
  const generalTitles = new Map<string, string>();
  const items = rows.map((row) => {
    let tpl = titles.get(row.request_id);
    if (!tpl) {
      tpl = compileTemplate(row.title);
      titles.set(row.request_id, tpl);
    }
    const request = { individual: row.individual, parameters: row.request_parameters, sender_address: row.sender_address, sender_name: row.sender_name };
    // A general mail has one title for all its To/Cc/Bcc (no meta tags, no recipient values):
    // every row of it shows that one, rendered once.
    let title = row.individual ? undefined : generalTitles.get(row.request_id);
    if (title === undefined) {
      title = renderLeniently(tpl, renderValuesFor(request, row.individual ? row : undefined));
      if (!row.individual) generalTitles.set(row.request_id, title);
    }
    return toRecipientListItem(row, title, view);
  });
  return { items, rows };
}

/** Recipients by id in the recipient-view row shape (a webhook's payload); ids not found are left out. */
export async function getRecipientViewRows(db: Db, ids: string[], view: ViewOptions): Promise<Map<string, RecipientListItem>> {
  const { items, rows } = await loadRows(db, ids, view);
  return new Map(rows.map((r, i) => [String(r.id), items[i]!]));
}

const isDefaultOrder = (sort: readonly SortKey[]) => sort.length === 1 && sort[0]!.property === 'createUtc';

export async function getRecipientList(db: Db, projectId: string, q: RecipientListQuery, view: ViewOptions): Promise<Page<RecipientListItem>> {
  const { paging, sort, filters } = q;
  if (matchesNothing(filters)) return toPage([], 0, paging, sort);
  const offset = paging.page * paging.size;
  // one row more than the page: whether a next page exists
  const idQuery = isDefaultOrder(sort)
    ? orderedIds(projectId, filters, sort[0]!.direction, paging.size + 1, offset)
    : sortedIds(projectId, filters, sort, paging);
  const found = (await idQuery.execute(db)).rows;
  const page = found.slice(0, paging.size);
  const ids = page.map((r) => r.id);
  const { items } = await loadRows(db, ids, view, monthsOf(page));
  const total = await boundedCount(db, paging, ids.length, found.length > paging.size, async (conn, limit) =>
    Number((await countQuery(projectId, filters, limit).execute(conn)).rows[0]!.n),
  );
  return toPage(items, total.total, paging, sort, total.exact);
}

/** Every matching row in the default order (createUtc DESC), by keyset. */
export async function* iterateRecipientRows(
  db: Db,
  projectId: string,
  filters: ViewFilters,
  view: ViewOptions,
  batchSize: number,
): AsyncGenerator<RecipientListItem[]> {
  if (matchesNothing(filters)) return;
  let cursor: RecipientCursor | undefined;
  for (;;) {
    const batch = (await orderedIds(projectId, filters, 'DESC', batchSize, 0, cursor).execute(db)).rows;
    const ids = batch.map((r) => r.id);
    if (ids.length === 0) return;
    const { items, rows } = await loadRows(db, ids, view, monthsOf(batch));
    if (items.length > 0) yield items;
    if (ids.length < batchSize) return;
    const last = rows[rows.length - 1]!;
    cursor = { requestAt: last.cursor_request_at, at: last.cursor_at, id: last.id };
  }
}
