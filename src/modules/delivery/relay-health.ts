import type { MailTransport } from './transport.ts';
import type { Logger } from '../../logger.ts';

/** While deliveries keep failing, one summary line this often (not one line per mail). */
export const FAILURE_SUMMARY_MS = 30_000;

export interface DeliveryFailure {
  /** recipients of the mail that this attempt failed for */
  recipients: number;
  /** the SMTP reply, or the connection error */
  reply: string;
  /** the result code it was classified as */
  code: string;
  temporary: boolean;
}

/**
 * What an operator needs to see of the relay: that it is unreachable (a failure line at warn the
 * moment deliveries start failing, then a summary every FAILURE_SUMMARY_MS while they go on, never
 * one line per mail), and that it recovered. Addresses are never logged here.
 */
export function createRelayHealth(logger: Logger, now: () => number = Date.now) {
  let failing = false;
  let since = 0;
  let failures = 0;
  let recipients = 0;
  let pendingSummary = { failures: 0, recipients: 0 };
  let lastReply = '';
  let lastSummaryAt = 0;

  return {
    failed(f: DeliveryFailure): void {
      failures++;
      recipients += f.recipients;
      lastReply = f.reply;
      const t = now();
      if (!failing) {
        failing = true;
        since = t;
        lastSummaryAt = t;
        pendingSummary = { failures: 0, recipients: 0 };
        logger.warn({ recipients: f.recipients, reply: f.reply, code: f.code, temporary: f.temporary }, 'smtp: delivery failed');
        return;
      }
      pendingSummary.failures++;
      pendingSummary.recipients += f.recipients;
      if (t - lastSummaryAt >= FAILURE_SUMMARY_MS) {
        logger.warn(
          { failures: pendingSummary.failures, recipients: pendingSummary.recipients, lastReply, failingForMs: t - since },
          'smtp: deliveries still failing',
        );
        lastSummaryAt = t;
        pendingSummary = { failures: 0, recipients: 0 };
      }
    },
    succeeded(): void {
      if (!failing) return;
      logger.info({ failures, recipients, failedForMs: now() - since, lastReply }, 'smtp: relay recovered, deliveries succeed again');
      failing = false;
      failures = 0;
      recipients = 0;
    },
  };
}

export type RelayHealth = ReturnType<typeof createRelayHealth>;

/**
 * At start: can the relay be reached and does it greet us? A warning, never a refusal: mail is
 * stored and retried, and the relay may come up later.
 */
export async function checkRelayAtStart(transport: MailTransport, logger: Logger, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      transport.verify(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    logger.info('smtp: relay reachable');
    return true;
  } catch (err) {
    const e = err as { message?: string; response?: string; code?: string };
    logger.warn({ reason: e.response ?? e.message, code: e.code }, 'smtp: relay not reachable at start; mails are kept and retried until it is');
    return false;
  } finally {
    clearTimeout(timer);
  }
}
