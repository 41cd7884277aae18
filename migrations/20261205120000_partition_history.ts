import { sql, type Kysely } from 'kysely';

// Issue 17 (history at scale): mails and recipients, the two tables that grow with every
// recipient, are range-partitioned by created_at, one partition a calendar month (UTC), named
// mails_pYYYYMM and recipients_pYYYYMM. created_at is the request's on both (every insert writes
// it), so a request's rows sit in one month. The retention purge drops whole months
// (src/modules/retention/history-partitions.ts) instead of deleting rows one by one, and a
// statement that names its rows' created_at plans and runs on their month only.
//
// ensure_history_partitions(from, to) makes the months from..to that are missing, for both tables.
// A DEFAULT partition takes a row whose month has none (a clock far off, a test's or a seed's
// made-up date); a month made later moves its rows out of it. Months are attached, not created
// as partitions, so the parent is only SHARE UPDATE EXCLUSIVE locked (writers go on); the
// default partition is briefly locked whole. A transaction-scoped advisory lock keeps two
// callers from making the same month.
//
// The tables are rebuilt: the old rows are copied into the new months (one for each month with
// rows, and this month through two months ahead: the default partition starts empty, so
// attaching a month later reads nothing there). That rewrites the history once, with the service stopped for it (the
// migration runs at start); about a minute per 10 million recipients on this machine.
//
// What changes besides: the primary keys become (id, created_at) and mails_request_seq
// (request_id, seq, created_at) (a unique index on a partitioned table must hold its key;
// created_at is one per request, so it is as unique as before), and recipients.id takes its
// values from the sequence recipient_ids (PostgreSQL 15 has no identity column on a partitioned
// table). mails.created_at loses its default (now()): every insert writes the request's. No
// foreign key points at either table (20261127090000).

/** The secondary indexes of the two tables (as they were), made again on the new tables (mails_request_seq apart: it changes). */
const MAIL_INDEXES = sql.raw(`
    CREATE INDEX mails_request_status ON mails (request_id, status, seq);
    CREATE INDEX mails_claim ON mails (request_id, next_attempt_at, seq) WHERE status IN ('R', 'I');`);
const RECIPIENT_INDEXES = sql.raw(`
    CREATE INDEX recipients_mail ON recipients (mail_id);
    CREATE INDEX recipients_request ON recipients (request_id, created_at DESC, id DESC) INCLUDE (result_code);
    CREATE INDEX recipients_address ON recipients (project_id, lower(address), created_at DESC, id DESC);
    CREATE INDEX recipients_project_created ON recipients (project_id, created_at DESC, id DESC);
    CREATE INDEX recipients_project_status ON recipients (project_id, status, created_at DESC, id DESC);
    CREATE INDEX recipients_project_result ON recipients (project_id, result_code, created_at DESC, id DESC)
      INCLUDE (request_id, mail_id) WHERE result_code IS NOT NULL;
    CREATE INDEX recipients_project_temporary ON recipients (project_id, temporary_result_code, created_at DESC, id DESC)
      INCLUDE (request_id, mail_id) WHERE temporary_result_code IS NOT NULL AND result_code IN ('RESENDING_MAIL', 'RESEND_MAIL_FAIL');
    CREATE INDEX recipients_bounced ON recipients (project_id, created_at DESC, id DESC) WHERE bounce_type IS NOT NULL;
    CREATE INDEX recipients_complained ON recipients (project_id, created_at DESC, id DESC) WHERE complaint_type IS NOT NULL;`);

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION history_month_name(tbl text, month_start timestamptz) RETURNS text
      LANGUAGE sql STABLE AS $$ SELECT tbl || '_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM') $$;

    CREATE FUNCTION ensure_history_partitions(from_month timestamptz, to_month timestamptz) RETURNS integer
      LANGUAGE plpgsql AS $$
    DECLARE
      m timestamp := date_trunc('month', from_month AT TIME ZONE 'UTC');
      last timestamp := date_trunc('month', to_month AT TIME ZONE 'UTC');
      lo timestamptz;
      hi timestamptz;
      tbl text;
      part text;
      idx record;
      made integer := 0;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext('ensure_history_partitions'));
      WHILE m <= last LOOP
        lo := m AT TIME ZONE 'UTC';
        hi := (m + interval '1 month') AT TIME ZONE 'UTC';
        FOREACH tbl IN ARRAY ARRAY['mails', 'recipients'] LOOP
          part := history_month_name(tbl, lo);
          CONTINUE WHEN to_regclass(part) IS NOT NULL;
          -- No row may reach the default partition between the move below and ATTACH's check of
          -- it (the check would fail): its writers wait (rare: a row whose month has none); its
          -- readers don't. The same order every time.
          LOCK TABLE mails_default, recipients_default IN EXCLUSIVE MODE;
          EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, tbl);
          -- The parent's indexes, named after theirs (recipients_bounced_p202612: a plan says which
          -- it read); ATTACH adopts them. The primary key's index ATTACH makes itself (<part>_pkey).
          FOR idx IN
            SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = tbl::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
          LOOP
            EXECUTE regexp_replace(idx.def, '^CREATE (UNIQUE )?INDEX \\S+ ON ONLY \\S+',
              format('CREATE \\1INDEX %I ON %I', idx.name || '_p' || to_char(m, 'YYYYMM'), part));
          END LOOP;
          -- the check lets ATTACH skip scanning the month's rows
          EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)', part, part || '_range', lo, hi);
          EXECUTE format('WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
            tbl || '_default', part) USING lo, hi;
          EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', tbl, part, lo, hi);
          EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
          made := made + 1;
        END LOOP;
        m := m + interval '1 month';
      END LOOP;
      RETURN made;
    END $$;

    ALTER TABLE mails RENAME TO mails_unpartitioned;
    ALTER TABLE recipients RENAME TO recipients_unpartitioned;
    ALTER INDEX mails_pkey RENAME TO mails_unpartitioned_pkey;
    ALTER INDEX mails_claim RENAME TO mails_unpartitioned_claim;
    ALTER INDEX mails_request_seq RENAME TO mails_unpartitioned_request_seq;
    ALTER INDEX mails_request_status RENAME TO mails_unpartitioned_request_status;
    ALTER INDEX recipients_pkey RENAME TO recipients_unpartitioned_pkey;
    ALTER INDEX recipients_address RENAME TO recipients_unpartitioned_address;
    ALTER INDEX recipients_bounced RENAME TO recipients_unpartitioned_bounced;
    ALTER INDEX recipients_complained RENAME TO recipients_unpartitioned_complained;
    ALTER INDEX recipients_mail RENAME TO recipients_unpartitioned_mail;
    ALTER INDEX recipients_project_created RENAME TO recipients_unpartitioned_project_created;
    ALTER INDEX recipients_project_result RENAME TO recipients_unpartitioned_project_result;
    ALTER INDEX recipients_project_status RENAME TO recipients_unpartitioned_project_status;
    ALTER INDEX recipients_project_temporary RENAME TO recipients_unpartitioned_project_temporary;
    ALTER INDEX recipients_request RENAME TO recipients_unpartitioned_request;
    ALTER TABLE mails_unpartitioned RENAME CONSTRAINT mails_status_check TO mails_unpartitioned_status_check;
    ALTER TABLE recipients_unpartitioned RENAME CONSTRAINT recipients_status_check TO recipients_unpartitioned_status_check;
    ALTER TABLE recipients_unpartitioned RENAME CONSTRAINT recipients_type_check TO recipients_unpartitioned_type_check;

    CREATE TABLE mails (LIKE mails_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);
    -- every insert writes its request's created_at: one that forgot would put the mail where no
    -- statement naming its request's month looks
    ALTER TABLE mails ALTER COLUMN created_at DROP DEFAULT;
    ALTER TABLE mails ADD CONSTRAINT mails_status_check CHECK (status IN ('R','I','S','F','PF','U','C'));
    ALTER TABLE mails ADD PRIMARY KEY (id, created_at);
    ${MAIL_INDEXES}
    CREATE UNIQUE INDEX mails_request_seq ON mails (request_id, seq, created_at);
    CREATE TABLE mails_default PARTITION OF mails DEFAULT;
    CREATE TRIGGER mails_due_notify AFTER INSERT ON mails FOR EACH STATEMENT EXECUTE FUNCTION notify_mails_due();

    CREATE SEQUENCE recipient_ids AS bigint;
    SELECT setval('recipient_ids', coalesce((SELECT max(id) FROM recipients_unpartitioned), 0) + 1, false);
    CREATE TABLE recipients (LIKE recipients_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);
    ALTER TABLE recipients ALTER COLUMN id SET DEFAULT nextval('recipient_ids');
    ALTER SEQUENCE recipient_ids OWNED BY recipients.id;
    ALTER TABLE recipients ADD CONSTRAINT recipients_status_check CHECK (status IN ('R','I','S','F','U','C'));
    ALTER TABLE recipients ADD CONSTRAINT recipients_type_check CHECK (type IN ('R','C','B'));
    ALTER TABLE recipients ADD PRIMARY KEY (id, created_at);
    ${RECIPIENT_INDEXES}
    CREATE TABLE recipients_default PARTITION OF recipients DEFAULT;
  `.execute(db);
  // Every month with rows, and this month through two months ahead; then the rows.
  await sql`
    SELECT ensure_history_partitions(m, m) FROM (
      SELECT DISTINCT date_trunc('month', created_at, 'UTC') AS m FROM mails_unpartitioned
      UNION SELECT DISTINCT date_trunc('month', created_at, 'UTC') FROM recipients_unpartitioned
    ) months
  `.execute(db);
  await sql`SELECT ensure_history_partitions(now(), now() + interval '2 months')`.execute(db);
  await sql`
    INSERT INTO mails SELECT * FROM mails_unpartitioned;
    INSERT INTO recipients SELECT * FROM recipients_unpartitioned;
    DROP TABLE mails_unpartitioned;
    DROP TABLE recipients_unpartitioned;
    ANALYZE mails;
    ANALYZE recipients;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE mails_unpartitioned (LIKE mails INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO mails_unpartitioned SELECT * FROM mails;
    CREATE TABLE recipients_unpartitioned (LIKE recipients INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO recipients_unpartitioned SELECT * FROM recipients;
    DROP TABLE mails;
    ALTER SEQUENCE recipient_ids OWNED BY NONE;
    DROP TABLE recipients;
    ALTER TABLE mails_unpartitioned RENAME TO mails;
    ALTER TABLE recipients_unpartitioned RENAME TO recipients;
    ALTER TABLE mails ADD PRIMARY KEY (id);
    ALTER TABLE mails ALTER COLUMN created_at SET DEFAULT now();
    CREATE UNIQUE INDEX mails_request_seq ON mails (request_id, seq);
    ${MAIL_INDEXES}
    CREATE TRIGGER mails_due_notify AFTER INSERT ON mails FOR EACH STATEMENT EXECUTE FUNCTION notify_mails_due();
    ALTER TABLE recipients ADD PRIMARY KEY (id);
    ${RECIPIENT_INDEXES}
    ALTER TABLE recipients ALTER COLUMN id DROP DEFAULT;
    DROP SEQUENCE recipient_ids;
    ALTER TABLE recipients ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
    SELECT setval(pg_get_serial_sequence('recipients', 'id'), coalesce((SELECT max(id) FROM recipients), 0) + 1, false);
    DROP FUNCTION ensure_history_partitions(timestamptz, timestamptz);
    DROP FUNCTION history_month_name(text, timestamptz);
  `.execute(db);
}
