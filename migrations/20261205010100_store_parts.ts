import { sql, type Kysely } from 'kysely';

// Issue 17: a group-filtered or recipient-file request is stored in parts at once instead of by
// one cursor (src/modules/requests/store-in-parts.ts). A part is a range of the source's keys
// (address ids after key_after through key_last; file positions likewise) with its own range of
// mail numbers (next_seq through last_seq; null: unbounded) and its own progress, so each batch
// locks only its part's row. state: S storing, F full (its numbers are used up and its keys are
// not: the book grew meanwhile; it goes on after every other part, with numbers after theirs),
// D done. The rows go when the request leaves P (a request cancelled in P: when its store job
// next runs, since the cancel holds the request's lock and batches lock a part before it).
//
// mail_requests.recipient_group_cursor is no longer written: a request stored in P across this
// migration is split from where its cursor and stored_count stopped.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE store_parts (
      request_id bigint NOT NULL REFERENCES mail_requests (id) ON DELETE CASCADE,
      part integer NOT NULL,
      key_after bigint NOT NULL,
      key_last bigint,
      next_seq integer NOT NULL,
      last_seq integer,
      stored integer NOT NULL DEFAULT 0,
      state text NOT NULL DEFAULT 'S' CHECK (state IN ('S', 'F', 'D')),
      PRIMARY KEY (request_id, part)
    )
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE store_parts`.execute(db);
}
