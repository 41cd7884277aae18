import { sql, type Kysely } from 'kysely';

// Delivery throttling (issue 16): one row per limited key ('domain:gmail.com', 'project:42') holding
// its token bucket, the messages it granted this minute and the last, and for a domain its
// back-off state; and the transactions a domain has open, as leased slots. Both are taken and
// given back by a whole claimed batch in one call of the functions below (a round trip per batch,
// never per mail), the bucket row locked meanwhile, so the limits hold across processes and
// restarts. The maths is stated in src/modules/delivery/throttle-policy.ts.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE delivery_throttle (
      key text PRIMARY KEY,
      per_minute double precision NOT NULL,
      connections integer,
      tokens double precision NOT NULL,
      refilled_at timestamptz NOT NULL,
      minute_start timestamptz NOT NULL,
      minute_count integer NOT NULL DEFAULT 0,
      prev_minute_count integer NOT NULL DEFAULT 0,
      backoff_level integer NOT NULL DEFAULT 0,
      successes integer NOT NULL DEFAULT 0,
      paused_until timestamptz,
      last_reply text,
      last_reply_at timestamptz
    )
  `.execute(db);
  await sql`
    CREATE TABLE delivery_throttle_slots (
      key text NOT NULL,
      slot integer NOT NULL,
      holder text NOT NULL,
      lease_until timestamptz NOT NULL,
      PRIMARY KEY (key, slot)
    )
  `.execute(db);
  await sql`CREATE INDEX delivery_throttle_slots_holder ON delivery_throttle_slots (holder)`.execute(db);

  // Takes, for each key (callers pass them sorted: rows are locked in that order), up to want
  // tokens, and for a key with connections (a domain) as many transaction slots as the batch can
  // use at once (p_max_slots), its share of the limit (1/p_share: the process's other claim loops
  // send to the domain beside it) and what the limit leaves (none: no tokens either, the mails
  // wait for a slot). A paused key grants nothing. Returns
  // what was granted, the rate in force, how long until the next token, and the pause.
  await sql`
    CREATE FUNCTION delivery_throttle_take(p_holder text, p_lease_ms double precision, p_max_slots integer, p_share integer, p_keys text[], p_wants integer[],
                                           p_per_minute double precision[], p_connections integer[])
    RETURNS TABLE (r_key text, r_granted integer, r_slots integer, r_per_minute double precision, r_wait_ms double precision,
                   r_paused_until timestamptz, r_level integer)
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
        INSERT INTO delivery_throttle AS d (key, per_minute, connections, tokens, refilled_at, minute_start)
        VALUES (p_keys[i], p_per_minute[i], p_connections[i], greatest(1, p_per_minute[i] / 60), t, this_minute)
        ON CONFLICT (key) DO NOTHING;
        SELECT * INTO b FROM delivery_throttle d WHERE d.key = p_keys[i] FOR UPDATE;
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
        RETURN NEXT;
      END LOOP;
    END $$
  `.execute(db);

  // A batch's end: gives back the tokens it did not use and its slots, and moves each domain's
  // back-off: a slow-down reply or no host reachable raises the level by one (capped) and pauses
  // the domain (base doubling with the level, capped; once per pause), keeping the reply; successes with none of
  // those lower it by one per p_recover_after of them.
  await sql`
    CREATE FUNCTION delivery_throttle_finish(p_holder text, p_keys text[], p_refunds integer[], p_signals text[], p_replies text[],
                                             p_successes integer[], p_pause_ms double precision, p_pause_max_ms double precision,
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
            last_reply = p_replies[i], last_reply_at = now()
          WHERE d.key = p_keys[i];
        ELSE
          UPDATE delivery_throttle d SET tokens = b.tokens + p_refunds[i], minute_count = greatest(0, b.minute_count - p_refunds[i]),
            backoff_level = CASE WHEN b.backoff_level > 0 AND b.successes + p_successes[i] >= p_recover_after THEN b.backoff_level - 1 ELSE b.backoff_level END,
            successes = CASE WHEN b.backoff_level = 0 OR b.successes + p_successes[i] >= p_recover_after THEN 0 ELSE b.successes + p_successes[i] END
          WHERE d.key = p_keys[i];
        END IF;
      END LOOP;
      DELETE FROM delivery_throttle_slots WHERE holder = p_holder;
    END $$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS delivery_throttle_finish`.execute(db);
  await sql`DROP FUNCTION IF EXISTS delivery_throttle_take`.execute(db);
  await sql`DROP TABLE IF EXISTS delivery_throttle_slots`.execute(db);
  await sql`DROP TABLE IF EXISTS delivery_throttle`.execute(db);
}
