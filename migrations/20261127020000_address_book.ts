import { sql, type Kysely } from 'kysely';

// The address book (NCP's recipient groups): a project's addresses, its named groups, and which
// address is in which group. An address is one row per project whatever its case
// ("Kim@Example.com" and "kim@example.com" are one address, kept as first given), so it is in a
// group at most once and a group filter sends to it once.
//
// A request with recipientGroupFilter keeps the filter and expands it into mails in batches by
// address id (keyset): recipient_group_cursor is the last address id stored, so a job that dies
// resumes after the last committed batch and never stores an address twice.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE address_book_addresses (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      address text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX address_book_addresses_address ON address_book_addresses (project_id, lower(address));

    CREATE TABLE address_book_groups (
      sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id bigint NOT NULL REFERENCES projects(id),
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX address_book_groups_name ON address_book_groups (project_id, name);

    -- The primary key serves the group filters: each group's members in address id order.
    CREATE TABLE address_book_members (
      group_sid bigint NOT NULL REFERENCES address_book_groups(sid) ON DELETE CASCADE,
      address_id bigint NOT NULL REFERENCES address_book_addresses(id) ON DELETE CASCADE,
      PRIMARY KEY (group_sid, address_id)
    );
    -- For the cascade from an address; a hash index since 20261207000000_members_address_hash.
    CREATE INDEX address_book_members_address ON address_book_members (address_id);

    ALTER TABLE mail_requests
      ADD COLUMN recipient_group_filter jsonb,
      ADD COLUMN recipient_group_cursor bigint;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE mail_requests DROP COLUMN recipient_group_filter, DROP COLUMN recipient_group_cursor;
    DROP TABLE address_book_members; DROP TABLE address_book_groups; DROP TABLE address_book_addresses;
  `.execute(db);
}
