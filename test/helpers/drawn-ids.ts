import { sql } from 'kysely';
import type { Db } from '../../src/db/schema.ts';

/** The rows one session inserted while it had drawn up to `drawn` from the table's id sequence. */
export interface DrawnBatch {
  request: string;
  tbl: 'mails' | 'recipients';
  drawn: string;
  rows: number;
  first: string;
  last: string;
}

/**
 * Runs `fn` with every mail and recipient insert noting the last id its session had drawn from
 * the table's id sequence by then (a BEFORE INSERT trigger reading currval); returns the inserts
 * grouped by that note. Ids drawn row by row during the inserts (column defaults, nextval in the
 * INSERT's SELECT) note each row's own id; drawn first, all rows of a batch note the batch's last.
 * A session that inserts without having drawn (an explicit id) notes NULL.
 */
export async function noteDrawnIds(db: Db, fn: () => Promise<void>): Promise<DrawnBatch[]> {
  await sql`
    CREATE TABLE drawn_ids (request bigint, tbl text, id bigint, drawn bigint);
    CREATE FUNCTION last_drawn(seq regclass) RETURNS bigint LANGUAGE plpgsql AS $$
    BEGIN RETURN currval(seq); EXCEPTION WHEN object_not_in_prerequisite_state THEN RETURN NULL; END $$;
    CREATE FUNCTION note_drawn_mail() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO drawn_ids VALUES (NEW.request_id, 'mails', NEW.id, last_drawn('mail_id_seq')); RETURN NEW; END $$;
    CREATE FUNCTION note_drawn_recipient() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO drawn_ids VALUES (NEW.request_id, 'recipients', NEW.id, last_drawn('recipient_ids')); RETURN NEW; END $$;
    CREATE TRIGGER note_drawn BEFORE INSERT ON mails FOR EACH ROW EXECUTE FUNCTION note_drawn_mail();
    CREATE TRIGGER note_drawn BEFORE INSERT ON recipients FOR EACH ROW EXECUTE FUNCTION note_drawn_recipient();
  `.execute(db);
  try {
    await fn();
    const batches = await sql<DrawnBatch>`
      SELECT request::text, tbl, drawn::text, count(*)::int AS rows, min(id)::text AS first, max(id)::text AS last
      FROM drawn_ids GROUP BY request, tbl, drawn ORDER BY request, tbl, drawn
    `.execute(db);
    return batches.rows;
  } finally {
    await sql`
      DROP TRIGGER note_drawn ON mails; DROP TRIGGER note_drawn ON recipients;
      DROP FUNCTION note_drawn_mail(); DROP FUNCTION note_drawn_recipient(); DROP FUNCTION last_drawn(regclass); DROP TABLE drawn_ids;
    `.execute(db);
  }
}
