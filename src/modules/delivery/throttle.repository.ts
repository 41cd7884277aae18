import { sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import type { Db } from '../../db/schema.ts';
import { MAX_BACKOFF_LEVEL, RECOVER_AFTER_SUCCESSES, type ThrottleSignal } from './throttle-policy.ts';

/** What a batch asks of one key: `want` tokens at `perMinute`; a domain also transaction slots (at most `connections`). */
export interface ThrottleWant {
  key: string;
  want: number;
  perMinute: number;
  connections: number | null;
}

export interface ThrottleGrant {
  key: string;
  granted: number;
  /** transaction slots taken (domains); null for a key without a connection limit */
  slots: number | null;
  /** the rate in force (the limit halved per back-off level) */
  perMinute: number;
  /** until the bucket has its next token */
  waitMs: number;
  pausedUntil: Date | null;
  level: number;
  /** pauses in a row in which no host of the domain answered (migration 20261205000000) */
  unreachablePauses: number;
}

/** Keys in one order for every caller: the functions lock their rows in the order given, so no two batches deadlock. */
function byKey<T extends { key: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** One call for the whole batch (delivery_throttle_take2): tokens and slots of every key, locked in key order. */
export async function takeThrottle(
  db: Db,
  holder: string,
  leaseMs: number,
  /** slots of one key the batch can use at once, and the share of a key's limit it may take (1/share) */
  slots: { max: number; share: number },
  wants: ThrottleWant[],
): Promise<ThrottleGrant[]> {
  if (!wants.length) return [];
  const sorted = byKey(wants);
  const res = await sql<{
    r_key: string;
    r_granted: number;
    r_slots: number | null;
    r_per_minute: number;
    r_wait_ms: number;
    r_paused_until: Date | null;
    r_level: number;
    r_unreachable_pauses: number;
  }>`${sql.raw(PREPARED)}
    SELECT r_key, r_granted, r_slots, r_per_minute, r_wait_ms, r_paused_until, r_level, r_unreachable_pauses
    FROM delivery_throttle_take2(${holder}, ${leaseMs}, ${slots.max}, ${slots.share}, ${sorted.map((w) => w.key)}::text[], ${sorted.map((w) => w.want)}::int[],
      ${sorted.map((w) => w.perMinute)}::float8[], ${sorted.map((w) => w.connections)}::int[])
  `.execute(db);
  return res.rows.map((r) => ({
    key: r.r_key,
    granted: r.r_granted,
    slots: r.r_slots,
    perMinute: r.r_per_minute,
    waitMs: r.r_wait_ms,
    pausedUntil: r.r_paused_until,
    level: r.r_level,
    unreachablePauses: r.r_unreachable_pauses,
  }));
}

/** The last slow-down or unreachable reply of each key that has one (the deferral of a paused domain's mails quotes it). */
export async function lastReplies(db: Db, keys: string[]): Promise<Map<string, string>> {
  const res = await sql<{ key: string; last_reply: string }>`${sql.raw(PREPARED)}
    SELECT key, last_reply FROM delivery_throttle WHERE key = ANY(${keys}::text[]) AND last_reply IS NOT NULL
  `.execute(db);
  return new Map(res.rows.map((r) => [r.key, r.last_reply]));
}

/** What a batch reports of one key at its end. */
export interface ThrottleReport {
  key: string;
  /** tokens taken and not used (mails held, given back, not attempted) */
  refund: number;
  signal: ThrottleSignal | null;
  /** the reply that gave the signal (slow-down, unreachable), redacted */
  reply: string | null;
  successes: number;
  /** recipients whose attempt got an SMTP reply that was neither a success nor a slow-down (a host answered) */
  answered: number;
}

/** One call at a batch's end (delivery_throttle_finish2): unused tokens back, slots released, back-off moved. */
export async function finishThrottle(db: Db, holder: string, reports: ThrottleReport[], pause: { pauseMs: number; pauseMaxMs: number }): Promise<void> {
  const sorted = byKey(reports);
  await sql`${sql.raw(PREPARED)}
    SELECT delivery_throttle_finish2(${holder}, ${sorted.map((r) => r.key)}::text[], ${sorted.map((r) => r.refund)}::int[],
      ${sorted.map((r) => r.signal)}::text[], ${sorted.map((r) => r.reply)}::text[], ${sorted.map((r) => r.successes)}::int[],
      ${sorted.map((r) => r.answered)}::int[],
      ${pause.pauseMs}, ${pause.pauseMaxMs}, ${MAX_BACKOFF_LEVEL}, ${RECOVER_AFTER_SUCCESSES})
  `.execute(db);
}

/**
 * Drops the state of keys idle (no batch took from them) for `idleMs`: a full bucket and old
 * minute counters say nothing a new row wouldn't. A domain still paused, or backed off, keeps
 * its row (its back-off is what it learned) unless idle for `backedOffIdleMs`. Expired slot rows
 * go too. A take that locked a row first keeps it (its refill time is new when the delete gets
 * the row); one that finds it gone creates it again (delivery_throttle_take2).
 */
export async function pruneThrottleStates(db: Db, idleMs: number, backedOffIdleMs: number): Promise<number> {
  const res = await sql`${sql.raw(PREPARED)}
    WITH gone AS (
      DELETE FROM delivery_throttle
      WHERE refilled_at < now() - make_interval(secs => ${idleMs / 1000})
        AND (paused_until IS NULL OR paused_until < now())
        AND (backoff_level = 0 OR refilled_at < now() - make_interval(secs => ${backedOffIdleMs / 1000}))
      RETURNING key
    ), slots AS (
      DELETE FROM delivery_throttle_slots WHERE lease_until < now() - make_interval(secs => ${idleMs / 1000}) OR key IN (SELECT key FROM gone)
    )
    SELECT count(*)::int AS n FROM gone
  `.execute(db);
  return (res.rows[0] as { n: number }).n;
}

/** A live batch keeps its slots (renewed with its mails' leases); a dead one's expire. */
export async function renewThrottleSlots(db: Db, holder: string, leaseMs: number): Promise<void> {
  await sql`${sql.raw(PREPARED)}
    UPDATE delivery_throttle_slots SET lease_until = now() + make_interval(secs => ${leaseMs / 1000}) WHERE holder = ${holder}
  `.execute(db);
}

export interface DomainStateRow {
  domain: string;
  per_minute: number;
  connections: number | null;
  /** messages granted in the current minute and the one before, and how far the current one is */
  minute_count: number;
  prev_minute_count: number;
  minute_elapsed: number;
  backoff_level: number;
  paused_until: Date | null;
  last_reply: string | null;
  last_reply_at: Date | null;
  open_slots: number;
}

/**
 * The domains' delivery state, those paused or backed off first, then the busiest; `domain`
 * narrows to one. The sent-in-the-last-minute figure is estimated from the two minute counters.
 */
export async function listDomainStates(db: Db, opts: { domain?: string; limit: number; offset: number }): Promise<{ rows: DomainStateRow[]; total: number }> {
  const where = opts.domain ? sql`t.key = ${'domain:' + opts.domain}` : sql`t.key LIKE 'domain:%'`;
  const res = await sql<DomainStateRow & { total: string }>`
    SELECT substr(t.key, 8) AS domain, t.per_minute, t.connections, t.backoff_level, t.paused_until, t.last_reply, t.last_reply_at,
      CASE WHEN t.minute_start = date_trunc('minute', now()) THEN t.minute_count ELSE 0 END AS minute_count,
      CASE WHEN t.minute_start = date_trunc('minute', now()) THEN t.prev_minute_count
           WHEN t.minute_start = date_trunc('minute', now()) - interval '1 minute' THEN t.minute_count ELSE 0 END AS prev_minute_count,
      extract(epoch FROM now() - date_trunc('minute', now()))::float8 AS minute_elapsed,
      (SELECT count(*)::int FROM delivery_throttle_slots s WHERE s.key = t.key AND s.lease_until >= now()) AS open_slots,
      count(*) OVER () AS total
    FROM delivery_throttle t
    WHERE ${where}
    ORDER BY (t.paused_until > now()) IS TRUE DESC, t.backoff_level DESC, t.minute_count DESC, t.key
    LIMIT ${opts.limit} OFFSET ${opts.offset}
  `.execute(db);
  return { rows: res.rows, total: Number(res.rows[0]?.total ?? 0) };
}
