import { sql } from 'kysely';
import type { MailTransport } from './modules/delivery/transport.ts';
import client from 'prom-client';
import type { Db } from './db/schema.ts';

/**
 * The process's Prometheus metrics. One registry per process (not prom-client's global one):
 * the delivery loop and the job handlers record into it wherever they run, and /metrics (on the
 * service's port or METRICS_PORT) reads it.
 */
const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const httpDuration = new client.Histogram({
  name: 'mailer_http_request_duration_seconds',
  help: 'HTTP requests by method, route template (never the raw path) and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const recipientResults = new client.Counter({
  name: 'mailer_recipient_results_total',
  help: 'Recipient results recorded by delivery: result sent, failed, retried (a retry is scheduled), unsubscribed or cancelled; code is the NCP result code',
  labelNames: ['result', 'code'] as const,
  registers: [registry],
});

const smtpInFlight = new client.Gauge({
  name: 'mailer_smtp_sends_in_flight',
  help: 'Messages handed to the pooled SMTP transport and not yet answered (nodemailer does not expose its pool)',
  registers: [registry],
});

const smtpMaxConnections = new client.Gauge({
  name: 'mailer_smtp_pool_max_connections',
  help: 'Connections the pooled SMTP transport may open (SMTP_MAX_CONNECTIONS; in direct mode, per destination host)',
  registers: [registry],
});

const jobDuration = new client.Histogram({
  name: 'mailer_job_duration_seconds',
  help: 'Job handler run time by queue (store-recipients, export, ...) and outcome (ok, error)',
  labelNames: ['queue', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
  registers: [registry],
});

const queueDue = new client.Gauge({
  name: 'mailer_queue_due_mails',
  help: 'Mails whose send time has come and that are not sent yet (read at scrape time; -1 when the database did not answer in time)',
  registers: [registry],
});

const queueOldestAge = new client.Gauge({
  name: 'mailer_queue_oldest_due_age_seconds',
  help: 'How long the oldest due, unsent mail has been due (0 when none)',
  registers: [registry],
});

const inboundMessages = new client.Counter({
  name: 'mailer_inbound_messages_total',
  help: 'Reports received by the bounce/complaint listener: applied (hard_bounce, soft_bounce, complaint), ignored (a valid token but nothing to change), not_a_report (dropped), or refused (unknown_address, forged, too_large)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export type InboundOutcome = 'hard_bounce' | 'soft_bounce' | 'complaint' | 'ignored' | 'unknown_address' | 'forged' | 'not_a_report' | 'too_large';

export function countInbound(outcome: InboundOutcome, n = 1): void {
  inboundMessages.inc({ outcome }, n);
}

const throttleHeld = new client.Counter({
  name: 'mailer_delivery_throttled_total',
  help: 'Mails held back by a delivery limit, or deferred by a domain that stays unreachable (not attempted, queued again), per destination domain: its name when it has limits of its own (built in or THROTTLE_DOMAINS), else "other"',
  labelNames: ['domain'] as const,
  registers: [registry],
});

const throttleSignals = new client.Counter({
  name: 'mailer_delivery_slowdowns_total',
  help: 'Batches in which a destination domain answered "slow down" (signal slow-down: 421, 4.7.x, rate-limit replies) or could not be reached at all (signal unreachable, direct mode); domain labelled as in mailer_delivery_throttled_total',
  labelNames: ['domain', 'signal'] as const,
  registers: [registry],
});

const domainsPaused = new client.Gauge({
  name: 'mailer_delivery_domain_paused',
  help: 'Destination domains paused now after a slow-down (read at scrape time): 1/0 for each domain with limits of its own, the count of the others under "other"',
  labelNames: ['domain'] as const,
  registers: [registry],
});

export function countThrottleHeld(domain: string): void {
  throttleHeld.inc({ domain });
}

export function countThrottleSignal(domain: string, signal: string): void {
  throttleSignals.inc({ domain, signal });
}

/** Label of a request that matched no route (404s, and 401s answered before routing): bounded. */
export const UNMATCHED_ROUTE = 'unmatched';

export function observeHttpRequest(method: string, route: string, status: number, seconds: number): void {
  httpDuration.observe({ method, route, status: String(status) }, seconds);
}

const RESULT_OF_STATUS: Record<string, string> = { S: 'sent', F: 'failed', U: 'unsubscribed', C: 'cancelled' };

/** Counts the recipient results of one recorded batch (R/I after an attempt = a retry is scheduled). */
export function countRecipientResults(updates: readonly { status: string; resultCode: string }[]): void {
  for (const u of updates) recipientResults.inc({ result: RESULT_OF_STATUS[u.status] ?? 'retried', code: u.resultCode });
}

/** Runs a job handler and records its duration under its queue's name. */
export async function timeJob<T>(queue: string, run: () => Promise<T>): Promise<T> {
  const end = jobDuration.startTimer({ queue });
  try {
    const out = await run();
    end({ outcome: 'ok' });
    return out;
  } catch (err) {
    end({ outcome: 'error' });
    throw err;
  }
}

/** Counts what is in flight through the transport: nodemailer's pool has no public counters. */
export function instrumentTransport(transport: MailTransport, maxConnections: number): MailTransport {
  smtpMaxConnections.set(maxConnections);
  const send = transport.sendMail.bind(transport) as (mail: unknown) => Promise<unknown>;
  (transport as { sendMail: unknown }).sendMail = async (mail: unknown) => {
    smtpInFlight.inc();
    try {
      return await send(mail);
    } finally {
      smtpInFlight.dec();
    }
  };
  return transport;
}

/** Time a scrape may spend on the queue query: a slow database must not stall Prometheus. */
const QUEUE_QUERY_TIMEOUT_MS = 1_000;
/** The due count stops here: counting a huge backlog exactly would make every scrape slow (900,000 due mails: 660 ms to count them all, 58 ms to count to 100,000). */
const QUEUE_COUNT_CAP = 100_000;

/** Reads the queue depth (the mails_due partial index: due R/I mails) into the gauges. */
async function readQueueDepth(db: Db): Promise<void> {
  try {
    const row = await db.transaction().execute(async (tx) => {
      await sql`SET LOCAL statement_timeout = ${sql.lit(QUEUE_QUERY_TIMEOUT_MS)}`.execute(tx);
      const res = await sql<{ due: number; oldest_age: number | null }>`
        SELECT (SELECT count(*)::int FROM (SELECT 1 FROM mails WHERE status IN ('R', 'I') AND next_attempt_at <= now() LIMIT ${QUEUE_COUNT_CAP}) d) AS due,
               extract(epoch FROM now() - (SELECT min(next_attempt_at) FROM mails WHERE status IN ('R', 'I') AND next_attempt_at <= now()))::float8 AS oldest_age
      `.execute(tx);
      return res.rows[0]!;
    });
    queueDue.set(row.due);
    queueOldestAge.set(row.oldest_age ?? 0);
  } catch {
    queueDue.set(-1);
  }
}

/** Reads which domains are paused now: the named ones each, the rest as one count (bounded labels). */
async function readPausedDomains(db: Db, named: readonly string[]): Promise<void> {
  try {
    const res = await sql<{ domain: string; paused: number }>`
      SELECT CASE WHEN substr(key, 8) = ANY(${[...named]}::text[]) THEN substr(key, 8) ELSE 'other' END AS domain, count(*)::int AS paused
      FROM delivery_throttle WHERE key LIKE 'domain:%' AND paused_until > now() GROUP BY 1
    `.execute(db);
    const paused = new Map(res.rows.map((r) => [r.domain, r.paused]));
    for (const d of [...named, 'other']) domainsPaused.set({ domain: d }, paused.get(d) ?? 0);
  } catch {
    // the gauge keeps its last reading; the queue gauge says when the database did not answer
  }
}

/** The text Prometheus scrapes, with the queue and the paused domains read just now. */
export async function scrape(db: Db, throttledDomains: readonly string[] = []): Promise<string> {
  await Promise.all([readQueueDepth(db), readPausedDomains(db, throttledDomains)]);
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = registry.contentType;
