import { replyCodeOf, type SmtpOutcomeInput } from './classify-smtp-reply.ts';
import { storableText } from '../../shared/storable-text.ts';
import type { DomainLimits } from './throttle-config.ts';

// The pure rules of throttling: what a back-off level leaves of a domain's limits, how long a
// pause lasts, when held mails are worth claiming again, and which replies mean "slow down".
// The token bucket and the level live in PostgreSQL (delivery_throttle_take / _finish, in the
// migration 20261204120000_delivery_throttle); these functions state the same maths.

/** Back-off levels stop here: a rate of 1/64 of the limit, pauses at their cap long before. */
export const MAX_BACKOFF_LEVEL = 6;
/** Successes of a domain, with no slow-down reply among them, that lower its level by one. */
export const RECOVER_AFTER_SUCCESSES = 20;
/**
 * A paused domain's mails are held (no retry spent) while the pause lasts, except in direct mode
 * when none of its hosts answered in this pause and the one before, with no success or other
 * reply between (DEFER_AFTER_UNREACHABLE_PAUSES, counted by delivery_throttle_finish). Then each
 * mail claimed or held during the pause whose domains are all so is deferred instead: its pending
 * recipients are recorded as a temporary failure (CONNECTION_ABNORMAL, a retry spent, no
 * connection made) saying so, and it is due again when the pause ends. A dead domain's mails so
 * fail after RETRY_LIMIT pauses, as through a relay after RETRY_LIMIT retries, instead of waiting
 * for ever (one probe a pause, the pause growing to THROTTLE_PAUSE_MAX_MS). A domain's first
 * unreachable pause spends no retries (a short outage costs nothing); a domain that answers, if
 * only 421, is never deferred: a 421 says "later", and the attempt that gets it spends its own
 * retry. A mail with a recipient in a domain that is not so (a general mail to several domains)
 * is held, and goes with the next probe.
 */
export const DEFER_AFTER_UNREACHABLE_PAUSES = 2;

/** Whether a domain paused `unreachablePauses` times in a row with no host answering defers its mails. */
export function defers(unreachablePauses: number): boolean {
  return unreachablePauses >= DEFER_AFTER_UNREACHABLE_PAUSES;
}

/** What a deferred recipient's result message says: the domain's last reply, and that it was not attempted. */
export function deferralReason(domain: string, lastReply: string | null, until: Date): string {
  return `${lastReply ?? 'no host answered'} (not attempted: ${domain} is paused until ${until.toISOString()}, unreachable in pauses running)`;
}

/** A key's state no batch took from for this long is pruned (the sweep): its bucket is full and its counters old. */
export const THROTTLE_IDLE_MS = 3_600_000;
/** ...unless the domain is backed off: that is kept for a week of idleness. */
export const THROTTLE_BACKED_OFF_IDLE_MS = 7 * 86_400_000;

/** A mail held because its domain's transactions were all taken looks again after this long. */
export const SLOT_WAIT_MS = 500;

/** The limits a domain at back-off `level` gets: each level halves the rate and the transactions (at least 1 a minute, 1 at once). */
export function limitsAtLevel(limits: DomainLimits, level: number): DomainLimits {
  const l = Math.max(0, Math.min(MAX_BACKOFF_LEVEL, level));
  return { connections: Math.max(1, Math.floor(limits.connections / 2 ** l)), perMinute: Math.max(1, limits.perMinute / 2 ** l) };
}

/** A bucket holds one second's worth of tokens (at least one): a burst never exceeds that. */
export function bucketCapacity(perMinute: number): number {
  return Math.max(1, perMinute / 60);
}

/** The tokens in a bucket after `elapsedMs`: refilled at perMinute, never beyond its capacity. */
export function refill(tokens: number, elapsedMs: number, perMinute: number): number {
  return Math.min(bucketCapacity(perMinute), tokens + (Math.max(0, elapsedMs) * perMinute) / 60_000);
}

/** How many of `want` a bucket grants (whole tokens only), and what it holds after. */
export function take(tokens: number, want: number): { granted: number; left: number } {
  const granted = Math.max(0, Math.min(want, Math.floor(tokens)));
  return { granted, left: tokens - granted };
}

/**
 * When the k-th (0-based) mail held for lack of tokens is worth claiming again: when the bucket
 * has a token for it, each later one a token's time after the one before. Spread so, held mails
 * come due about as fast as the bucket lets them go, instead of all at once in every claim.
 */
export function heldDueAt(now: Date, waitMs: number, k: number, perMinute: number): Date {
  return new Date(now.getTime() + Math.max(0, waitMs) + Math.ceil((k * 60_000) / perMinute));
}

/** The pause after a domain reached `level` (1 or more): base, doubling with each level, capped. */
export function pauseMs(level: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, level - 1));
}

/**
 * What a recipient's answer says of its domain: it asks us to slow down (421, any 4.7.x, or a
 * temporary reply that says rate, volume, too many, busy), none of its hosts could be reached
 * (no reply at all: refused, timed out, reset), it was accepted, or something else (per
 * recipient: a full mailbox, an unknown user, greylisting's plain "451 4.3.0 try again later"
 * says nothing of the rate and leaves the domain alone).
 *
 * Seen in the wild: Gmail "421-4.7.0 Try again later, closing connection", "421-4.7.28 ... unusual
 * rate of unsolicited mail ... temporarily rate limited"; Yahoo "421 4.7.0 [TSS04] Messages from
 * ... temporarily deferred due to unexpected volume or user complaints"; Outlook "451 4.7.500
 * Server busy. Please try again later"; Exchange "421 4.3.2 The maximum number of concurrent
 * connections ... exceeded"; GoDaddy "421 Connection refused, too many sessions"; Naver and
 * Yahoo Japan "421 ... too many connections".
 */
export type ThrottleSignal = 'slow-down' | 'unreachable' | 'sent' | 'other';

const SLOW_DOWN_TEXT =
  /\b(rate[- ]?limit|unusual rate|too many|too fast|unexpected volume|temporarily deferred|server busy|throttl|slow down|concurrent connections)/i;
const NO_REPLY_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

export function throttleSignal(error: SmtpOutcomeInput | undefined): ThrottleSignal {
  if (!error) return 'sent';
  const text = error.response ?? '';
  const code = replyCodeOf(error);
  if (code === undefined) return error.errorCode && NO_REPLY_CODES.has(error.errorCode) ? 'unreachable' : 'other';
  if (code === 421) return 'slow-down';
  if (code >= 400 && code < 500) {
    if (/^\d{3}[ -]4\.7\.\d{1,3}\b/m.test(text)) return 'slow-down';
    if (SLOW_DOWN_TEXT.test(text)) return 'slow-down';
  }
  return 'other';
}

/** Whether an attempt's error carries an SMTP reply (a host answered), as opposed to none at all. */
export function hasReplyCode(error: SmtpOutcomeInput | undefined): boolean {
  return error !== undefined && replyCodeOf(error) !== undefined;
}

/** A reply as the domain state keeps it: addresses masked (they are recipients'), no NUL, at most 300 characters. */
export function redactReply(reply: string): string {
  return storableText(reply)
    .replace(/[^\s<>()[\]"',;:]+@[^\s<>()[\]"',;:]+/g, '<address>')
    .slice(0, 300);
}
