import { sql, type Kysely } from 'kysely';

// address_book_members_address serves the cascade from an address to its memberships (an
// address deleted: its rows found by address_id, one equality a deleted address). As a B-tree it
// also offered the members in address id order across every group, and PostgreSQL took it for
// one side of an AND's merge while a group's members were not yet all-visible (a book just
// imported, before autovacuum): an index scan of every group's entries in the range, each row
// fetched and all but one group's filtered out, where the primary key (group_sid, address_id)
// reads that group's alone. bench:group-filter's book (groups of 1,000,000 and 500,000), a copy
// of its members analyzed but not vacuumed, psql on PostgreSQL 18, two runs: the AND's count of
// 250,000 took 277 and 161 ms through the B-tree against 129 and 78 through the primary key, a
// store page of 50,000 58 and 31 ms against 27 and 18. A hash index answers the cascade's
// equality and nothing else, so the merges always read the primary key. Building 1,500,000
// memberships costs more with it (3.3-3.4 s against 2.4-2.5, the index 49 MB against 32).
// The rebuild reads the table once, with the service stopped (migrations run at start).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX address_book_members_address;
    CREATE INDEX address_book_members_address ON address_book_members USING hash (address_id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX address_book_members_address;
    CREATE INDEX address_book_members_address ON address_book_members (address_id);
  `.execute(db);
}
