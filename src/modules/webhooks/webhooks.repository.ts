import { type RawBuilder, type Selectable, sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import type { Db, Tx, WebhookDeliveriesTable, WebhooksTable } from '../../db/schema.ts';

export type WebhookRow = Selectable<WebhooksTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

export async function insertWebhook(
  db: Db | Tx,
  row: { projectId: string; url: string; events: string[]; description: string | null; secretSealed: string },
): Promise<WebhookRow> {
  return db
    .insertInto('webhooks')
    .values({ project_id: row.projectId, url: row.url, events: row.events, description: row.description, secret_sealed: row.secretSealed })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listWebhooks(db: Db, projectId: string, limit: number, offset: number): Promise<WebhookRow[]> {
  return db.selectFrom('webhooks').selectAll().where('project_id', '=', projectId).orderBy('id', 'desc').limit(limit).offset(offset).execute();
}

export async function countWebhooks(db: Db, projectId: string): Promise<number> {
  const r = await db
    .selectFrom('webhooks')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function findWebhook(db: Db | Tx, projectId: string, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
}

export async function updateWebhook(
  db: Db | Tx,
  projectId: string,
  id: string,
  patch: { url: string; events: string[]; description: string | null; enabled: boolean },
): Promise<WebhookRow | undefined> {
  return db
    .updateTable('webhooks')
    .set((eb) => ({
      url: patch.url,
      events: patch.events,
      description: patch.description,
      enabled: patch.enabled,
      updated_at: sql`now()`,
      // Enabling (again) starts its failure count afresh and clears the reason it was disabled for.
      ...(patch.enabled
        ? {
            disabled_reason: eb.case().when('enabled', '=', false).then(sql<string | null>`NULL`).else(eb.ref('disabled_reason')).end(),
            disabled_at: eb.case().when('enabled', '=', false).then(sql<Date | null>`NULL`).else(eb.ref('disabled_at')).end(),
            consecutive_failures: eb.case().when('enabled', '=', false).then(0).else(eb.ref('consecutive_failures')).end(),
            failing_since: eb.case().when('enabled', '=', false).then(sql<Date | null>`NULL`).else(eb.ref('failing_since')).end(),
          }
        : {
            disabled_reason: eb.case().when('enabled', '=', true).then('disabled by the API').else(eb.ref('disabled_reason')).end(),
            disabled_at: eb.case().when('enabled', '=', true).then(sql<Date>`now()`).else(eb.ref('disabled_at')).end(),
          }),
    }))
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteWebhook(db: Db | Tx, projectId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('webhooks').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  return r.numDeletedRows > 0n;
}

export async function listDeliveries(db: Db, webhookId: string, limit: number, offset: number): Promise<DeliveryRow[]> {
  return db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId).orderBy('id', 'desc').limit(limit).offset(offset).execute();
}

export async function countDeliveries(db: Db, webhookId: string): Promise<number> {
  const r = await db
    .selectFrom('webhook_deliveries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('webhook_id', '=', webhookId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A delivery is due again now, whatever its state; false when it is not this webhook's. */
export async function scheduleAgain(db: Db, webhookId: string, deliveryId: string): Promise<boolean> {
  const r = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'P', next_attempt_at: sql`now()`, lease_until: null })
    .where('webhook_id', '=', webhookId)
    .where('id', '=', deliveryId)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/**
 * The outbox write for events that `source` yields (columns project_id, event_type, subject_id):
 * one delivery per enabled endpoint of the project subscribed to the event. Meant as the last
 * part of the statement that records the outcome (a CTE), so it adds no round trip; with no
 * endpoint it joins against an empty index range and writes nothing.
 */
export function outboxInsert(source: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`INSERT INTO webhook_deliveries (webhook_id, project_id, event_type, subject_id)
    SELECT w.id, w.project_id, e.event_type, e.subject_id
    FROM (${source}) e
    JOIN webhooks w ON w.project_id = e.project_id AND w.enabled AND e.event_type = ANY(w.events)`;
}

/** Writes events given as arrays (a statement of its own: for the rarer events). */
export async function insertEvents(db: Db | Tx, events: { projectId: string; type: string; subjectId: string }[]): Promise<void> {
  if (!events.length) return;
  await outboxInsert(sql`SELECT * FROM unnest(${events.map((e) => e.projectId)}::bigint[], ${events.map((e) => e.type)}::text[],
    ${events.map((e) => e.subjectId)}::bigint[]) AS u(project_id, event_type, subject_id)`).execute(db);
}

export interface ClaimedDelivery {
  id: string;
  webhook_id: string;
  project_id: string;
  event_type: string;
  subject_id: string;
  event_at: Date;
  payload: string | null;
  attempts: number;
  url: string;
  secret_sealed: string;
}

/** Claims due deliveries of enabled endpoints under a lease (SKIP LOCKED: loops and processes take different ones). */
export async function claimDueDeliveries(db: Db, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const res = await sql<ClaimedDelivery>`${sql.raw(PREPARED)}
    WITH picked AS (
      SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
      WHERE d.status = 'P' AND d.next_attempt_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now())
      ORDER BY d.next_attempt_at
      LIMIT ${limit}
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => ${leaseMs / 1000})
    FROM picked, webhooks w
    WHERE d.id = picked.id AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, d.project_id, d.event_type, d.subject_id, d.event_at, d.payload, d.attempts, w.url, w.secret_sealed
  `.execute(db);
  return res.rows.map((r) => ({
    ...r,
    id: String(r.id),
    webhook_id: String(r.webhook_id),
    project_id: String(r.project_id),
    subject_id: String(r.subject_id),
  }));
}

export interface AttemptRecord {
  id: string;
  payload: string;
  status: 'P' | 'S' | 'F';
  nextAttemptAt: Date | null;
  attemptAt: Date;
  statusCode: number | null;
  latencyMs: number;
  response: string | null;
  error: string | null;
}

/** Records a batch of attempts in one statement. */
export async function recordAttempts(db: Db, rows: AttemptRecord[]): Promise<void> {
  if (!rows.length) return;
  await sql`${sql.raw(PREPARED)}
    UPDATE webhook_deliveries d SET payload = coalesce(d.payload, u.payload), status = u.status, attempts = d.attempts + 1,
      next_attempt_at = u.next_at, lease_until = NULL, last_attempt_at = u.attempt_at, last_status_code = u.status_code,
      last_latency_ms = u.latency, last_response = u.response, last_error = u.error
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.payload)}::text[], ${rows.map((r) => r.status)}::text[],
                ${rows.map((r) => r.nextAttemptAt)}::timestamptz[], ${rows.map((r) => r.attemptAt)}::timestamptz[],
                ${rows.map((r) => r.statusCode)}::int[], ${rows.map((r) => r.latencyMs)}::int[],
                ${rows.map((r) => r.response)}::text[], ${rows.map((r) => r.error)}::text[])
      AS u(id, payload, status, next_at, attempt_at, status_code, latency, response, error)
    WHERE d.id = u.id
  `.execute(db);
}

export interface EndpointHealth {
  webhookId: string;
  /** a success came in this batch: the count restarts from the failures after the last one */
  reset: boolean;
  failures: number;
  firstFailureAt: Date | null;
}

/**
 * Updates the endpoints' failure counts from a batch, then disables those that failed
 * `failures` times in a row over at least `afterMs`; returns the ids disabled.
 */
export async function updateEndpointHealth(db: Db, rows: EndpointHealth[], policy: { failures: number; afterMs: number }, reason: string): Promise<string[]> {
  if (!rows.length) return [];
  return db.transaction().execute(async (tx) => {
    await sql`${sql.raw(PREPARED)}
      UPDATE webhooks w SET
        consecutive_failures = CASE WHEN u.reset THEN u.failures ELSE w.consecutive_failures + u.failures END,
        failing_since = CASE WHEN u.failures = 0 THEN NULL WHEN u.reset OR w.failing_since IS NULL THEN u.first_at ELSE w.failing_since END
      FROM unnest(${rows.map((r) => r.webhookId)}::bigint[], ${rows.map((r) => r.reset)}::boolean[], ${rows.map((r) => r.failures)}::int[],
                  ${rows.map((r) => r.firstFailureAt)}::timestamptz[]) AS u(id, reset, failures, first_at)
      WHERE w.id = u.id
    `.execute(tx);
    const failing = rows.filter((r) => r.failures > 0).map((r) => r.webhookId);
    if (!failing.length) return [];
    const disabled = await sql<{ id: string }>`
      UPDATE webhooks SET enabled = false, disabled_at = now(),
        disabled_reason = ${reason} || ' (' || consecutive_failures || ' failed attempts in a row since ' || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
      WHERE id = ANY(${failing}::bigint[]) AND enabled AND consecutive_failures >= ${policy.failures}
        AND failing_since <= now() - make_interval(secs => ${policy.afterMs / 1000})
      RETURNING id
    `.execute(tx);
    return disabled.rows.map((r) => String(r.id));
  });
}

/** Forgets up to `limit` delivered or failed deliveries older than `days` (the log is not kept forever). */
export async function pruneDeliveryLog(db: Db, days: number, limit: number): Promise<number> {
  const res = await sql`
    DELETE FROM webhook_deliveries WHERE id IN (
      SELECT id FROM webhook_deliveries WHERE status IN ('S', 'F') AND created_at < now() - make_interval(days => ${days}) LIMIT ${limit})
  `.execute(db);
  return Number(res.numAffectedRows ?? 0);
}
