// The delivery engine's tunables: leases, windows, groups and polls, with why each has its value.

/** A claim not renewed within this time is taken to be lost with its worker. */
export const LEASE_MS = 30_000;
/** How often a sending batch looks for a cancel of its requests. */
export const CANCEL_WATCH_MS = 250;
/**
 * Mails of one claim loop with the transport at once: all loops together keep about four per
 * SMTP connection queued, enough to keep each busy. More would only queue in the pool, where a
 * new request's mail waits behind them.
 */
export function inFlightPerLoop(smtpConnections: number, loops: number): number {
  return Math.max(2, Math.ceil((4 * smtpConnections) / loops));
}
/**
 * Once mails were stored after its claim, a claim loop hands mails of its batch to SMTP for this
 * long at most; the rest goes back and is claimed again, in turn with the new ones. So a new
 * request's mail waits about one window, however slow the relay is and however large the
 * requests ahead of it; with nothing new, a batch is sent whole.
 */
export const BATCH_WINDOW_MS = 250;
/**
 * A batch has at most this many mails sent and waiting for their recording, beyond those with
 * the transport: with those, all a kill can make it send twice. Once this many of a batch's
 * outcomes wait for a recording group, the group goes without RECORD_LINGER_MS (batchRecording,
 * result-recorder.ts).
 */
export const RECORD_GROUP = 10;
/**
 * Outcomes recorded by one statement at most, of all the process's batches (result-recorder.ts):
 * a group takes what came in RECORD_LINGER_MS (or until a batch's RECORD_GROUP wait) and while
 * the one before was written, so it grows with the rate.
 */
export const RECORD_STATEMENT_MAILS = 100;
/**
 * How long the first outcome of a group waits for others before the group is recorded (unless
 * RECORD_STATEMENT_MAILS are queued first), whether or not a recording is under way meanwhile:
 * mails come back from the SMTP connections one by one. Each recording is planned again
 * (src/db/connect.ts), so fewer, larger ones cost PostgreSQL less. bench:send, 30,000 mails,
 * alternated runs (2026-12-06): waiting 3 ms, and only when nothing was being written, made
 * 7,052-7,799 recordings; 20 ms that way 5,121-5,526, PostgreSQL's CPU per 1,000 mails
 * 0.81-1.08 s against 0.91-1.05; 20 ms whatever is under way, 0.22 statements a mail against
 * 0.33-0.37, PostgreSQL 0.52-0.57 s against 0.75-0.99, and 687-719 mails/s against 523-665. A
 * mail's status turns final up to that much later, except when a batch has RECORD_GROUP
 * outcomes waiting (see RECORD_GROUP).
 */
export const RECORD_LINGER_MS = 20;
/**
 * An idle claim loop woken by a notification that came less than this long after the one before
 * (a stream of small requests) waits this long before it claims, and meanwhile the next
 * notifications wake no other loop: it claims their mails together, instead of each mail taking
 * a claim and a batch's other statements of its own (and idle loops claiming nothing).
 * 50 ms rather than 10: 1-recipient POSTs one after the other, workers in the process (800 a
 * run, two runs each, alternated) cost the service 4.1-4.3 ms of CPU a request against 5.1, and
 * PostgreSQL 3.3 against 5.4-5.5 (2.7-3.1 statements against 5.5-5.8 in bench:send); their p95
 * went from 13-17 ms to 10-12. A mail of a stream leaves up to 50 ms later; a lone one at once.
 */
export const CLAIM_LINGER_MS = 50;
/** Live workers renew their claims this often, however long the relay takes. */
export const LEASE_RENEW_MS = 10_000;
/**
 * An idle claim loop looks for due mails this often even without a notification: a missed
 * NOTIFY, a retry falling due in another process, a lease run out.
 */
export const POLL_MS = 1_000;
/** A reservation still R this long after its time has lost its job: the sweep starts it. */
export const RESERVATION_GRACE_MS = 5_000;
