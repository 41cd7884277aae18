import { sql } from 'kysely';
import type { Tx } from '../../db/schema.ts';

/**
 * Writes on the address-book tables. Lists go in as arrays through unnest, one statement
 * whatever their length (100,000 addresses a call), never row by row. Addresses match on
 * lower(address) (the unique index), so "Kim@x.com" and "kim@x.com" are one address.
 */

/** Creates the groups that don't exist yet; returns every named group's sid. */
export async function upsertGroups(tx: Tx, projectId: string, names: string[]): Promise<Map<string, string>> {
  await sql`
    INSERT INTO address_book_groups (project_id, name)
    SELECT ${projectId}::bigint, n FROM unnest(${names}::text[]) AS n
    ON CONFLICT (project_id, name) DO NOTHING
  `.execute(tx);
  const rows = await tx.selectFrom('address_book_groups').select(['sid', 'name']).where('project_id', '=', projectId).where('name', 'in', names).execute();
  return new Map(rows.map((r) => [r.name, r.sid]));
}

/** Adds the addresses the book doesn't have yet (an address already there keeps its first spelling). */
export async function insertAddresses(tx: Tx, projectId: string, addresses: string[]): Promise<void> {
  if (addresses.length === 0) return;
  // Sorted, so concurrent uploads of overlapping lists take the index entries in one order (no deadlock).
  await sql`
    INSERT INTO address_book_addresses (project_id, address)
    SELECT ${projectId}::bigint, x FROM unnest(${addresses}::text[]) AS x ORDER BY lower(x)
    ON CONFLICT (project_id, lower(address)) DO NOTHING
  `.execute(tx);
}

/** Puts each address into its group (pairs by position); memberships that exist stay as they are. */
export async function insertMembers(tx: Tx, projectId: string, groupSids: string[], addresses: string[]): Promise<void> {
  if (addresses.length === 0) return;
  await sql`
    INSERT INTO address_book_members (group_sid, address_id)
    SELECT u.g, a.id
    FROM unnest(${groupSids}::bigint[], ${addresses}::text[]) AS u(g, x)
    JOIN address_book_addresses a ON a.project_id = ${projectId}::bigint AND lower(a.address) = lower(u.x)
    ORDER BY u.g, a.id
    ON CONFLICT DO NOTHING
  `.execute(tx);
}

/** deleteAddressBook: every membership, group and address of the project; returns the addresses deleted. */
export async function deleteAll(tx: Tx, projectId: string): Promise<number> {
  await sql`DELETE FROM address_book_members WHERE group_sid IN (SELECT sid FROM address_book_groups WHERE project_id = ${projectId}::bigint)`.execute(tx);
  await tx.deleteFrom('address_book_groups').where('project_id', '=', projectId).execute();
  const res = await tx.deleteFrom('address_book_addresses').where('project_id', '=', projectId).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** deleteAddress: the addresses leave the book and (by cascade) every group. */
export async function deleteAddresses(tx: Tx, projectId: string, addresses: string[]): Promise<void> {
  await sql`
    DELETE FROM address_book_addresses
    WHERE project_id = ${projectId}::bigint AND lower(address) = ANY(${addresses.map((a) => a.toLowerCase())}::text[])
  `.execute(tx);
}

export async function deleteGroup(tx: Tx, groupSid: string): Promise<void> {
  await tx.deleteFrom('address_book_groups').where('sid', '=', groupSid).execute();
}

/** deleteRecipientGroupRelation: the addresses leave one group and stay in the book. */
export async function deleteMembers(tx: Tx, projectId: string, groupSid: string, addresses: string[]): Promise<void> {
  await sql`
    DELETE FROM address_book_members m USING address_book_addresses a
    WHERE m.group_sid = ${groupSid}::bigint AND m.address_id = a.id
      AND a.project_id = ${projectId}::bigint AND lower(a.address) = ANY(${addresses.map((x) => x.toLowerCase())}::text[])
  `.execute(tx);
}

/** deleteRecipientGroupRelationEmpty: the group keeps its name, loses its members. */
export async function emptyGroup(tx: Tx, groupSid: string): Promise<void> {
  await tx.deleteFrom('address_book_members').where('group_sid', '=', groupSid).execute();
}

/** Serialises the project's address-book writes (and the "state just before" they answer with). */
export async function lockAddressBook(tx: Tx, projectId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended('address-book:' || ${projectId}::text, 0))`.execute(tx);
}
