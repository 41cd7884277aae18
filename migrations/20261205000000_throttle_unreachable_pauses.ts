import { sql, type Kysely } from 'kysely';

// A domain's unreachable pauses in a row (issue 16 review): how many pauses running none of a
// domain's hosts answered, with no success and no other reply between, each starting within
// THROTTLE_PAUSE_MAX_MS of the last one's end. The back-off level can't say it: it falls only 20
// successes at a time, so a domain that slowed us down once, days ago, would still be at level 1
// or more when its first timeout comes. A domain that stays down (2 or more) defers its mails
// instead of holding them (src/modules/delivery/throttle-policy.ts, defers()).
//
// delivery_throttle_take2 is delivery_throttle_take returning the count too (and finding a key's
// row first, creating it only when missing, so the sweep can prune idle rows), and
// delivery_throttle_finish2 is delivery_throttle_finish moving it (with the replies of a batch
// that answered, p_answered). New names rather than a replaced take: a worker still running the
// code before this migration (a rolling deploy, several workers on one database) keeps calling
// the functions it knows, whose prepared statements would otherwise fail on a result that
// changed; a later migration drops the old pair.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE delivery_throttle ADD COLUMN unreachable_pauses integer NOT NULL DEFAULT 0`.execute(db);
  await sql`
    CREATE FUNCTION delivery_throttle_take2(p_holder text, p_lease_ms double precision, p_max_slots integer, p_share integer, p_keys text[], p_wants integer[],
                                           p_per_minute double precision[], p_connections integer[])
    RETURNS TABLE (r_key text, r_granted integer, r_slots integer, r_per_minute double precision, r_wait_ms double precision,
                   r_paused_until timestamptz, r_level integer, r_unreachable_pauses integer)
    LANGUAGE plpgsql AS $$
    DECLARE
      i integer;
      b delivery_throttle%ROWTYPE;
      t timestamptz := now();
      this_minute timestamptz := date_trunc('minute', now());
      rate double precision;
      avail double precision;
      g integer;
      s integer;
      conns integer;
    BEGIN
      FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        -- The key's row, locked; created when missing (the sweep prunes idle ones: one pruned
        -- between the insert and the select is created again).
        LOOP
          SELECT * INTO b FROM delivery_throttle d WHERE d.key = p_keys[i] FOR UPDATE;
          EXIT WHEN FOUND;
          INSERT INTO delivery_throttle AS d (key, per_minute, connections, tokens, refilled_at, minute_start)
          VALUES (p_keys[i], p_per_minute[i], p_connections[i], greatest(1, p_per_minute[i] / 60), t, this_minute)
          ON CONFLICT (key) DO NOTHING;
        END LOOP;
        rate := greatest(1, p_per_minute[i] / 2 ^ b.backoff_level);
        avail := least(greatest(1, rate / 60), b.tokens + greatest(0, extract(epoch FROM t - b.refilled_at)) * rate / 60);
        g := CASE WHEN b.paused_until > t THEN 0 ELSE greatest(0, least(p_wants[i], floor(avail)::integer)) END;
        s := NULL;
        IF p_connections[i] IS NOT NULL AND g > 0 THEN
          conns := greatest(1, p_connections[i] / (2 ^ b.backoff_level)::integer);
          WITH free AS (
            SELECT n FROM generate_series(1, conns) n
            WHERE NOT EXISTS (SELECT 1 FROM delivery_throttle_slots x WHERE x.key = p_keys[i] AND x.slot = n AND x.lease_until >= t)
            ORDER BY n LIMIT least(g, p_max_slots, greatest(1, ceil(conns::numeric / p_share)::integer))
          ), taken AS (
            INSERT INTO delivery_throttle_slots AS x (key, slot, holder, lease_until)
            SELECT p_keys[i], n, p_holder, t + p_lease_ms * interval '1 millisecond' FROM free
            ON CONFLICT (key, slot) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until WHERE x.lease_until < t
            RETURNING 1
          ) SELECT count(*)::integer INTO s FROM taken;
          IF s = 0 THEN g := 0; END IF;
        END IF;
        UPDATE delivery_throttle d SET per_minute = p_per_minute[i], connections = p_connections[i], tokens = avail - g, refilled_at = t,
          minute_count = CASE WHEN b.minute_start = this_minute THEN b.minute_count + g ELSE g END,
          prev_minute_count = CASE WHEN b.minute_start = this_minute THEN b.prev_minute_count
                                   WHEN b.minute_start = this_minute - interval '1 minute' THEN b.minute_count ELSE 0 END,
          minute_start = this_minute
        WHERE d.key = p_keys[i];
        r_key := p_keys[i];
        r_granted := g;
        r_slots := s;
        r_per_minute := rate;
        r_wait_ms := greatest(0, 1 - (avail - g)) * 60000 / rate;
        r_paused_until := CASE WHEN b.paused_until > t THEN b.paused_until END;
        r_level := b.backoff_level;
        r_unreachable_pauses := b.unreachable_pauses;
        RETURN NEXT;
      END LOOP;
    END $$
  `.execute(db);
  await sql`
    CREATE FUNCTION delivery_throttle_finish2(p_holder text, p_keys text[], p_refunds integer[], p_signals text[], p_replies text[],
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

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS delivery_throttle_finish2`.execute(db);
  await sql`DROP FUNCTION IF EXISTS delivery_throttle_take2`.execute(db);
  await sql`ALTER TABLE delivery_throttle DROP COLUMN unreachable_pauses`.execute(db);
}
