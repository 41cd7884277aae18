import type { FinalStatus } from '../../shared/statuses.ts';

/**
 * Status roll-up: a mail's status from its recipients, a request's from its mails. All sent is
 * S, all failed F, a mix PF; unsubscribed members don't spoil S or F ("some unsubscribed
 * allowed"); all unsubscribed is U, all cancelled C. Delivery rolls a request up in SQL
 * (finishDoneRequests, lifecycle.repository.ts), by the same rule: a change here changes that
 * too, and test/integration/roll-up.test.ts fails until it does.
 */

/** counts by status code (S, F, U, C, PF for mails; pending R/I make the result null: not final) */
export function rollUpStatus(counts: Partial<Record<string, number>>): FinalStatus | 'I' | null {
  const n = (k: string) => counts[k] ?? 0;
  const pending = n('R') + n('I') + n('P');
  const total = Object.values(counts).reduce<number>((a, b) => a + (b ?? 0), 0);
  if (total === 0) return null;
  if (pending > 0) return pending === total ? null : 'I';
  const s = n('S');
  const f = n('F');
  const pf = n('PF');
  const u = n('U');
  const c = n('C');
  if (pf > 0 || (s > 0 && f > 0)) return 'PF';
  if (s > 0) return 'S';
  if (f > 0) return 'F';
  if (u > 0) return 'U';
  if (c > 0) return 'C';
  return 'F';
}
