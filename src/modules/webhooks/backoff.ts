const MAX_DELAY_MS = 6 * 3600_000;

/** Delay before the retry that follows `attempts` failed attempts: base, 2 x base, 4 x base ... at most 6 h. */
export function webhookRetryDelayMs(attempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempts - 1), MAX_DELAY_MS);
}

/**
 * After a failed attempt: when to try again, or null to give up. Retries go on until the window
 * since the event has passed (24 h by default), the last one scheduled even if it lands after it.
 */
export function nextAttemptAfterFailure(attempts: number, eventAt: Date, now: Date, policy: { baseMs: number; windowMs: number }): Date | null {
  if (now.getTime() - eventAt.getTime() >= policy.windowMs) return null;
  return new Date(now.getTime() + webhookRetryDelayMs(attempts, policy.baseMs));
}
