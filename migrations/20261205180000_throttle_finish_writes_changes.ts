import { sql, type Kysely } from 'kysely';

// delivery_throttle_finish2 without a write when a batch's report changes nothing. It locked and
// updated each key's row at every batch's end even when nothing refunded, no signal and the
// domain not backed off left every column as it was: a new row version, its WAL, and a lock on
// the row every claim loop takes next (a busy domain's row is on every batch). Same signature,
// same result; a report that changes the row is applied as before.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION delivery_throttle_finish2(p_holder text, p_keys text[], p_refunds integer[], p_signals text[], p_replies text[],
                                             p_successes integer[], p_answered integer[], p_pause_ms double precision, p_pause_max_ms double precision,
                                             p_max_level integer, p_recover_after integer)
    RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
      i integer;
      b delivery_throttle%ROWTYPE;
      lvl integer;
    BEGIN
      FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        IF p_signals[i] IN ('slow-down', 'unreachable') THEN
          SELECT * INTO b FROM delivery_throttle d WHERE d.key = p_keys[i] FOR UPDATE;
          CONTINUE WHEN NOT FOUND;
          -- Batches sent before the pause began answer for the same pause: one level per pause.
          lvl := CASE WHEN b.paused_until > now() THEN b.backoff_level ELSE least(p_max_level, b.backoff_level + 1) END;
          UPDATE delivery_throttle d SET tokens = b.tokens + p_refunds[i], minute_count = greatest(0, b.minute_count - p_refunds[i]),
            backoff_level = lvl, successes = 0,
            paused_until = CASE WHEN b.paused_until > now() THEN b.paused_until
                                ELSE now() + least(p_pause_max_ms, p_pause_ms * 2 ^ (lvl - 1)) * interval '1 millisecond' END,
            last_reply = p_replies[i], last_reply_at = now(),
            unreachable_pauses = CASE WHEN p_signals[i] = 'slow-down' OR p_successes[i] > 0 OR p_answered[i] > 0 THEN 0
                                      WHEN b.paused_until > now() THEN b.unreachable_pauses
                                      WHEN b.paused_until > now() - p_pause_max_ms * interval '1 millisecond' THEN b.unreachable_pauses + 1
                                      ELSE 1 END
          WHERE d.key = p_keys[i];
        ELSE
          -- Only a row that this report changes is written (and locked): the condition is what
          -- the SET changes, read from the row's latest version. A domain that answers well
          -- (nothing refunded, not backed off) changes nothing at most batches' ends.
          UPDATE delivery_throttle d SET tokens = d.tokens + p_refunds[i], minute_count = greatest(0, d.minute_count - p_refunds[i]),
            backoff_level = CASE WHEN d.backoff_level > 0 AND d.successes + p_successes[i] >= p_recover_after THEN d.backoff_level - 1 ELSE d.backoff_level END,
            successes = CASE WHEN d.backoff_level = 0 OR d.successes + p_successes[i] >= p_recover_after THEN 0 ELSE d.successes + p_successes[i] END,
            unreachable_pauses = CASE WHEN p_successes[i] > 0 OR p_answered[i] > 0 THEN 0 ELSE d.unreachable_pauses END
          WHERE d.key = p_keys[i]
            -- a missing refund is written (and fails on tokens' NOT NULL, as it did)
            AND (coalesce(p_refunds[i] <> 0, true) OR d.backoff_level > 0 OR d.successes <> 0
                 OR (d.unreachable_pauses <> 0 AND (p_successes[i] > 0 OR p_answered[i] > 0)));
        END IF;
      END LOOP;
      DELETE FROM delivery_throttle_slots WHERE holder = p_holder;
    END $$
  `.execute(db);
}

/** The function as migration 20261205000000_throttle_unreachable_pauses made it. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION delivery_throttle_finish2(p_holder text, p_keys text[], p_refunds integer[], p_signals text[], p_replies text[],
                                             p_successes integer[], p_answered integer[], p_pause_ms double precision, p_pause_max_ms double precision,
                                             p_max_level integer, p_recover_after integer)
    RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
      i integer;
      b delivery_throttle%ROWTYPE;
      lvl integer;
    BEGIN
      FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        SELECT * INTO b FROM delivery_throttle d WHERE d.key = p_keys[i] FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        IF p_signals[i] IN ('slow-down', 'unreachable') THEN
          -- Batches sent before the pause began answer for the same pause: one level per pause.
          lvl := CASE WHEN b.paused_until > now() THEN b.backoff_level ELSE least(p_max_level, b.backoff_level + 1) END;
          UPDATE delivery_throttle d SET tokens = b.tokens + p_refunds[i], minute_count = greatest(0, b.minute_count - p_refunds[i]),
            backoff_level = lvl, successes = 0,
            paused_until = CASE WHEN b.paused_until > now() THEN b.paused_until
                                ELSE now() + least(p_pause_max_ms, p_pause_ms * 2 ^ (lvl - 1)) * interval '1 millisecond' END,
            last_reply = p_replies[i], last_reply_at = now(),
            unreachable_pauses = CASE WHEN p_signals[i] = 'slow-down' OR p_successes[i] > 0 OR p_answered[i] > 0 THEN 0
                                      WHEN b.paused_until > now() THEN b.unreachable_pauses
                                      WHEN b.paused_until > now() - p_pause_max_ms * interval '1 millisecond' THEN b.unreachable_pauses + 1
                                      ELSE 1 END
          WHERE d.key = p_keys[i];
        ELSE
          UPDATE delivery_throttle d SET tokens = b.tokens + p_refunds[i], minute_count = greatest(0, b.minute_count - p_refunds[i]),
            backoff_level = CASE WHEN b.backoff_level > 0 AND b.successes + p_successes[i] >= p_recover_after THEN b.backoff_level - 1 ELSE b.backoff_level END,
            successes = CASE WHEN b.backoff_level = 0 OR b.successes + p_successes[i] >= p_recover_after THEN 0 ELSE b.successes + p_successes[i] END,
            unreachable_pauses = CASE WHEN p_successes[i] > 0 OR p_answered[i] > 0 THEN 0 ELSE b.unreachable_pauses END
          WHERE d.key = p_keys[i];
        END IF;
      END LOOP;
      DELETE FROM delivery_throttle_slots WHERE holder = p_holder;
    END $$
  `.execute(db);
}
