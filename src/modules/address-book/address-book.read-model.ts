import { sql, type RawBuilder } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import { notFound } from '../../shared/errors.ts';
import { toAddressBook, type AddressBook, type GroupCountRow } from './address-book.mapper.ts';
import type { GroupFilter } from './group-filter.ts';

/** getAddressBook: the project's address count and each group's, groups in creation order. */
export async function getAddressBook(db: Db | Tx, projectId: string): Promise<AddressBook> {
  const total = await db
    .selectFrom('address_book_addresses')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  const groups = await sql<GroupCountRow>`
    SELECT g.sid, g.name, (SELECT count(*) FROM address_book_members m WHERE m.group_sid = g.sid) AS address_count
    FROM address_book_groups g WHERE g.project_id = ${projectId}::bigint ORDER BY g.sid
  `.execute(db);
  return toAddressBook(total.n, groups.rows);
}

/** The sid of the project's group `name`; 77103 naming it when there is none. */
export async function groupSidOrNotFound(db: Db | Tx, projectId: string, name: string, field = 'groupName'): Promise<string> {
  const row = await db.selectFrom('address_book_groups').select('sid').where('project_id', '=', projectId).where('name', '=', name).executeTakeFirst();
  if (!row) throw notFound(`${field}: group "${name}" does not exist`);
  return row.sid;
}

/**
 * Members counted of each group to order an AND's groups by size. The order saves work when one
 * group is small: a small driving group is probed into the others. Past this size PostgreSQL
 * merges the groups' ranges, which reads both whichever drives, so groups larger than this keep
 * the request's order. Counting them whole took 161 ms a request for groups of 1,000,000 and
 * 500,000 (bench:group-filter, 2026-12-06), twice a request (the POST and the store).
 */
const SIZE_COUNTED = 100_000;

/**
 * The sids of a filter's groups that exist now, smallest group first (the AND query drives
 * from the first). With `requireAll`, a missing group is 77103 naming it. Only an AND over
 * several groups counts their members (a scan of each group, up to SIZE_COUNTED): an OR reads
 * every group whole whatever their order.
 */
export async function filterGroupSids(db: Db | Tx, projectId: string, filter: GroupFilter, opts: { requireAll: boolean; field: string }): Promise<string[]> {
  const ordered = filter.andFilter && filter.groups.length > 1;
  const size = ordered ? sql`(SELECT count(*) FROM (SELECT 1 FROM address_book_members m WHERE m.group_sid = g.sid LIMIT ${SIZE_COUNTED}) x)` : sql`0`;
  const rows = await sql<{ sid: string; name: string; size: string }>`
    SELECT g.sid, g.name, ${size} AS size
    FROM address_book_groups g WHERE g.project_id = ${projectId}::bigint AND g.name = ANY(${filter.groups}::text[])
  `.execute(db);
  if (opts.requireAll) {
    const missing = filter.groups.filter((n) => !rows.rows.some((r) => r.name === n));
    if (missing.length) throw notFound(`${opts.field}: group ${missing.map((n) => `"${n}"`).join(', ')} does not exist`);
  }
  // AND over groups of which one is gone selects nothing.
  if (filter.andFilter && rows.rows.length < filter.groups.length) return [];
  const named = (r: { name: string }) => filter.groups.indexOf(r.name);
  return rows.rows.sort((a, b) => Number(a.size) - Number(b.size) || named(a) - named(b)).map((r) => r.sid);
}

/** The sids of the filter's groups as they are now, in no particular order, for each batch of an expansion. */
export async function currentGroupSids(db: Db | Tx, projectId: string, names: string[]): Promise<Map<string, string>> {
  const rows = await db.selectFrom('address_book_groups').select(['sid', 'name']).where('project_id', '=', projectId).where('name', 'in', names).execute();
  return new Map(rows.map((r) => [r.name, r.sid]));
}

export async function countSelected(db: Db | Tx, groupSids: string[], andFilter: boolean): Promise<number> {
  const res = await combinationCount(groupSids, andFilter, await firstSharedId(db, groupSids, andFilter, '0')).execute(db);
  return Number(res.rows[0]?.n ?? 0);
}

/**
 * For an AND over several groups, the first address id after `afterId` they could all hold: the
 * greatest of their first members after it (a primary-key probe a group), as an SQL expression.
 * Every address they share after the cursor is at or past it, so a merge of their ranges can
 * start there, not at their starts (combinationIds). Null for an OR or one group.
 */
export function sharedStart(groupSids: readonly string[], andFilter: boolean, afterId: string): RawBuilder<string | null> | null {
  if (!andFilter || groupSids.length < 2) return null;
  const firsts = groupSids.map(
    (sid) => sql`(SELECT min(address_id) FROM address_book_members WHERE group_sid = ${sid}::bigint AND address_id > ${afterId}::bigint)`,
  );
  return sql`GREATEST(${sql.join(firsts)})::text`;
}

/**
 * sharedStart, by a statement of its own: null for an OR or one group, or when no group has a
 * member left. Given to the query as a value: as a subquery in it, PostgreSQL could not estimate
 * it (in psql, with parallel workers, it chose a parallel hash join for bench:group-filter's
 * count: 486-560 ms; in a store's page, with the service's settings, a hash join over one whole
 * group: its selection 430 ms against 40; 2026-12-07). An older address added to a group after
 * it and before the query is below it: a store's page takes sharedStart again in its own
 * statement and runs again without the start if it lies below (store-from-groups.ts).
 */
export async function firstSharedId(db: Db | Tx, groupSids: readonly string[], andFilter: boolean, afterId: string): Promise<string | null> {
  const start = sharedStart(groupSids, andFilter, afterId);
  if (start === null) return null;
  const res = await sql<{ id: string | null }>`SELECT ${start} AS id`.execute(db);
  return res.rows[0]?.id ?? null;
}

/** Pages of the selected addresses in id order (one query per page, keyset). */
export async function* selectedAddresses(db: Db | Tx, groupSids: string[], andFilter: boolean, pageSize: number): AsyncGenerator<string[]> {
  let after = '0';
  for (;;) {
    const from = await firstSharedId(db, groupSids, andFilter, after);
    const page = (await combinationPage(groupSids, andFilter, after, pageSize, null, from).execute(db)).rows;
    if (page.length === 0) return;
    yield page.map((r) => r.address);
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.id;
  }
}

/**
 * The addresses a group filter selects, a keyset page at a time (address id order, which is
 * the order they were added). Set-based and index-driven, whatever the groups' sizes:
 * - OR: each group's next `limit` members from the primary key (group_sid, address_id), merged
 *   with UNION (an address in several groups once), the first `limit` of them;
 * - AND: the members of the first group (callers put the smallest first) that every other group
 *   has too (one primary-key probe per group), from `fromId` on (firstSharedId) when given.
 *   With `limitFits` (the limit is what lies within `throughId`: a part's own count), the bound
 *   applies after the limit.
 * `groupSids` must be the project's own (resolved by name within the project).
 */
function combinationIds(
  groupSids: readonly string[],
  andFilter: boolean,
  afterId: string,
  limit: number | null,
  throughId: string | null = null,
  fromId: string | null = null,
  limitFits = false,
): RawBuilder<{ address_id: string }> {
  if (groupSids.length === 0) return sql`SELECT NULL::bigint AS address_id WHERE false`;
  const upTo = (col: RawBuilder<unknown>) => (throughId === null ? sql`` : sql`AND ${col} <= ${throughId}::bigint`);
  if (andFilter || groupSids.length === 1) {
    const [first, ...rest] = groupSids;
    // `o.address_id > afterId` is implied, as is `>= fromId` on both sides, but they let a merge
    // join start at the cursor, or where every group has a member past it, not at the groups'
    // starts: an AND of a group of 1,000,000 and one of 500,000 holding its last 250,000 read the
    // first 750,000 in vain in its count, its split and a store's first page (the count 210-222 ms
    // against 44-46 in psql, prepared and run again, bench:group-filter's book, 2026-12-07).
    const from = (col: RawBuilder<unknown>) => (fromId === null ? sql`` : sql`AND ${col} >= ${fromId}::bigint`);
    const others = rest.map(
      (sid) =>
        sql`AND EXISTS (SELECT 1 FROM address_book_members o WHERE o.group_sid = ${sid}::bigint AND o.address_id > ${afterId}::bigint ${from(sql.ref('o.address_id'))} AND o.address_id = m.address_id)`,
    );
    // A part's upper bound applies after the limit when the limit is what lies within it: the
    // page is the same (what lies within the bound is a prefix of what follows the cursor), and
    // reads past the bound only what was removed from the part's range since it was split.
    // Within the bound, PostgreSQL expected fewer shared members than the limit (it takes the
    // groups as independent: 18,455 where there were 75,000), so it saw no early stop and hashed
    // the other group's whole range after the cursor: a bounded part's page in bench:group-filter's
    // book, before autovacuum had visited the members, took 196 ms against 48 (psql, 2026-12-07);
    // the service met that plan in three of four runs (auto_explain). A part whose range holds
    // fewer (a full part going on with the whole batch as its limit) keeps the bound inside.
    const after = limitFits && throughId !== null && others.length > 0;
    const page = sql<{ address_id: string }>`
      SELECT m.address_id FROM address_book_members m
      WHERE m.group_sid = ${first}::bigint AND m.address_id > ${afterId}::bigint ${from(sql.ref('m.address_id'))} ${after ? sql`` : upTo(sql.ref('m.address_id'))} ${sql.join(others, sql` `)}
      ORDER BY m.address_id LIMIT ${limit}`;
    return after ? sql`SELECT address_id FROM (${page}) p WHERE address_id <= ${throughId}::bigint ORDER BY address_id` : page;
  }
  const perGroup = groupSids.map(
    (sid) =>
      sql`(SELECT address_id FROM address_book_members WHERE group_sid = ${sid}::bigint AND address_id > ${afterId}::bigint ${upTo(sql.ref('address_id'))} ORDER BY address_id LIMIT ${limit})`,
  );
  return sql`SELECT address_id FROM (${sql.join(perGroup, sql` UNION `)}) u ORDER BY address_id LIMIT ${limit}`;
}

/**
 * The next page of selected addresses: `id, address`, in id order. A query to embed, so the
 * requests module can expand groups into mails with one INSERT … SELECT per batch.
 */
export function combinationPage(
  groupSids: readonly string[],
  andFilter: boolean,
  afterId: string,
  limit: number,
  throughId: string | null = null,
  fromId: string | null = null,
  limitFits = false,
): RawBuilder<{ id: string; address: string }> {
  // The start on the addresses too: with `a.id > afterId` alone PostgreSQL expects every address
  // after the cursor and hashes them all, a sequential scan of the book (a store's first page in
  // bench:group-filter: its selection 631 ms against 66-77 with the start, auto_explain, 2026-12-07).
  const from = fromId === null ? sql`` : sql`AND a.id >= ${fromId}::bigint`;
  return sql`
    SELECT a.id, a.address FROM (${combinationIds(groupSids, andFilter, afterId, limit, throughId, fromId, limitFits)}) ids
    JOIN address_book_addresses a ON a.id = ids.address_id AND a.id > ${afterId}::bigint ${from}
    ORDER BY a.id`;
}

/**
 * The selection after `afterId` as it is now, cut into at most `parts` pieces of equal counts in
 * id order (ntile: sizes differ by one at most): each piece's count and last id (one pass over the
 * selection, as countSelected), so the requests module can store the pieces at once, each with
 * its own range of mail numbers. Cut by what the groups hold now, not by a count taken earlier:
 * groups that grew since would otherwise leave nearly everything to the last piece.
 */
export async function splitSelection(
  db: Db | Tx,
  groupSids: string[],
  andFilter: boolean,
  afterId: string,
  parts: number,
): Promise<{ n: number; lastId: string }[]> {
  const res = await sql<{ n: number; last_id: string }>`
    SELECT count(*)::int AS n, max(address_id)::text AS last_id
    FROM (SELECT address_id, ntile(${parts}::int) OVER (ORDER BY address_id) AS piece
          FROM (${combinationIds(groupSids, andFilter, afterId, null, null, await firstSharedId(db, groupSids, andFilter, afterId))}) s) p
    GROUP BY piece ORDER BY piece
  `.execute(db);
  return res.rows.map((r) => ({ n: r.n, lastId: r.last_id }));
}

/** How many addresses the filter selects now. */
function combinationCount(groupSids: readonly string[], andFilter: boolean, fromId: string | null): RawBuilder<{ n: string }> {
  if (groupSids.length === 0) return sql`SELECT 0::bigint AS n`;
  if (andFilter || groupSids.length === 1) {
    // Counted over the selection in id order, as the store reads it: PostgreSQL then merges the
    // groups' primary-key ranges. Asked for the count alone it chose a parallel hash join over a
    // sequential scan of every group's members: 290 ms against 87 for the overlap of groups of
    // 1,000,000 and 500,000 (PostgreSQL 18, bench:group-filter's book, 2026-12-06).
    return sql`SELECT count(*) AS n FROM (${combinationIds(groupSids, true, '0', null, null, fromId)}) s`;
  }
  const perGroup = groupSids.map((sid) => sql`SELECT address_id FROM address_book_members WHERE group_sid = ${sid}::bigint`);
  return sql`SELECT count(*) AS n FROM (${sql.join(perGroup, sql` UNION `)}) u`;
}
