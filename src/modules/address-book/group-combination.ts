import { sql, type RawBuilder } from 'kysely';

/**
 * The addresses a group filter selects, a keyset page at a time (address id order, which is
 * the order they were added). Set-based and index-driven, whatever the groups' sizes:
 * - OR: each group's next `limit` members from the primary key (group_sid, address_id), merged
 *   with UNION (an address in several groups once), the first `limit` of them;
 * - AND: the members of the first group (callers put the smallest first) that every other group
 *   has too (one primary-key probe per group).
 * `groupSids` must be the project's own (resolved by name within the project).
 */
function combinationIds(groupSids: readonly string[], andFilter: boolean, afterId: string, limit: number): RawBuilder<{ address_id: string }> {
  if (groupSids.length === 0) return sql`SELECT NULL::bigint AS address_id WHERE false`;
  if (andFilter || groupSids.length === 1) {
    const [first, ...rest] = groupSids;
    // `o.address_id > afterId` is implied, but lets a merge join start at the cursor, not at the group's start.
    const others = rest.map(
      (sid) => sql`AND EXISTS (SELECT 1 FROM address_book_members o WHERE o.group_sid = ${sid}::bigint AND o.address_id > ${afterId}::bigint AND o.address_id = m.address_id)`,
    );
    return sql`
      SELECT m.address_id FROM address_book_members m
      WHERE m.group_sid = ${first}::bigint AND m.address_id > ${afterId}::bigint ${sql.join(others, sql` `)}
      ORDER BY m.address_id LIMIT ${limit}`;
  }
  const perGroup = groupSids.map(
    (sid) => sql`(SELECT address_id FROM address_book_members WHERE group_sid = ${sid}::bigint AND address_id > ${afterId}::bigint ORDER BY address_id LIMIT ${limit})`,
  );
  return sql`SELECT address_id FROM (${sql.join(perGroup, sql` UNION `)}) u ORDER BY address_id LIMIT ${limit}`;
}

/** The next page of selected addresses: `id, address`, in id order. */
export function combinationPage(groupSids: readonly string[], andFilter: boolean, afterId: string, limit: number): RawBuilder<{ id: string; address: string }> {
  return sql`
    SELECT a.id, a.address FROM (${combinationIds(groupSids, andFilter, afterId, limit)}) ids
    JOIN address_book_addresses a ON a.id = ids.address_id AND a.id > ${afterId}::bigint
    ORDER BY a.id`;
}

/** How many addresses the filter selects now. */
export function combinationCount(groupSids: readonly string[], andFilter: boolean): RawBuilder<{ n: string }> {
  if (groupSids.length === 0) return sql`SELECT 0::bigint AS n`;
  if (andFilter || groupSids.length === 1) {
    const [first, ...rest] = groupSids;
    const others = rest.map(
      (sid) => sql`AND EXISTS (SELECT 1 FROM address_book_members o WHERE o.group_sid = ${sid}::bigint AND o.address_id = m.address_id)`,
    );
    return sql`SELECT count(*) AS n FROM address_book_members m WHERE m.group_sid = ${first}::bigint ${sql.join(others, sql` `)}`;
  }
  const perGroup = groupSids.map((sid) => sql`SELECT address_id FROM address_book_members WHERE group_sid = ${sid}::bigint`);
  return sql`SELECT count(*) AS n FROM (${sql.join(perGroup, sql` UNION `)}) u`;
}
