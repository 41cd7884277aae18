import { classifySmtpReply, type SmtpOutcomeInput } from './classify-smtp-reply.ts';
import { storableText } from '../../shared/storable-text.ts';
import { rollUpStatus } from '../lifecycle/roll-up-status.ts';
import type { ResultCode } from '../../shared/i18n.ts';

/** What one SMTP attempt of a mail gave: per-recipient answers, or one answer for all. */
export type SendResult =
  | { kind: 'sent'; response: string; rejected: { address: string; error: SmtpOutcomeInput }[] }
  | { kind: 'failed'; error: SmtpOutcomeInput }
  | { kind: 'content'; resultCode: ResultCode; message: string }
  /** the request was cancelled before this mail was handed to SMTP */
  | { kind: 'cancelled' };

export interface RecipientState {
  id: string;
  address: string;
  status: string;
  retryCount: number;
  pending: boolean;
}

export interface RecipientUpdate {
  id: string;
  status: string;
  resultCode: ResultCode;
  resultMessage: string | null;
  retryCount: number;
  receivedAt: Date | null;
  finishedAt: Date | null;
  /**
   * Set on a temporary failure: its cause (CONNECTION_ABNORMAL, ...), kept beside NCP's
   * RESENDING_MAIL / RESEND_MAIL_FAIL so the views can say why, and find it. Absent: unchanged.
   */
  temporaryResultCode?: ResultCode;
}

export interface MailUpdate {
  status: string;
  nextAttemptAt: Date | null;
  finishedAt: Date | null;
}

export interface RetryPolicy {
  retryLimit: number;
  baseDelayMs: number;
}

/**
 * What an attempt answered a recipient: the whole attempt's error when it failed, else the
 * refusal of its address at RCPT (matched without regard to case), else nothing (accepted).
 */
export function recipientErrors(result: SendResult): (address: string) => SmtpOutcomeInput | undefined {
  if (result.kind === 'failed') return () => result.error;
  const rejected = new Map(result.kind === 'sent' ? result.rejected.map((r) => [r.address.toLowerCase(), r.error]) : []);
  return (address) => rejected.get(address.toLowerCase());
}

/** Exponential backoff: base, 2 x base, 4 x base ... capped at 6 hours. */
export function retryDelayMs(retryCount: number, baseDelayMs: number): number {
  return Math.min(baseDelayMs * 2 ** Math.max(0, retryCount - 1), 6 * 3600 * 1000);
}

function rawReply(e: SmtpOutcomeInput): string | null {
  const reply = e.response ?? e.message ?? e.errorCode;
  return reply === undefined ? null : storableText(reply);
}

/**
 * Turns an attempt's outcome into recipient and mail updates (pure). Temporary failures are
 * retried with backoff until the retry limit, then RESEND_MAIL_FAIL, each recording its cause as
 * temporaryResultCode; permanent ones fail at once.
 */
export function applySendResult(
  recipients: RecipientState[],
  result: SendResult,
  now: Date,
  policy: RetryPolicy,
  /** what a sent recipient is recorded as: MAIL_SENT, or TEST_MAIL_SEND for a test mail */
  sentCode: 'MAIL_SENT' | 'TEST_MAIL_SEND' = 'MAIL_SENT',
): { recipients: RecipientUpdate[]; mail: MailUpdate } {
  const updates: RecipientUpdate[] = [];
  let nextAttemptAt: Date | null = null;
  const errorOf = recipientErrors(result);

  for (const r of recipients) {
    if (!r.pending) continue;
    if (result.kind === 'content') {
      updates.push({
        id: r.id,
        status: 'F',
        resultCode: result.resultCode,
        resultMessage: result.message,
        retryCount: r.retryCount,
        receivedAt: null,
        finishedAt: now,
      });
      continue;
    }
    if (result.kind === 'cancelled') {
      updates.push({ id: r.id, status: 'C', resultCode: 'CANCELED_MAIL', resultMessage: null, retryCount: r.retryCount, receivedAt: null, finishedAt: now });
      continue;
    }
    const error = errorOf(r.address);
    if (!error && result.kind === 'sent') {
      updates.push({
        id: r.id,
        status: 'S',
        resultCode: sentCode,
        resultMessage: storableText(result.response),
        retryCount: r.retryCount,
        receivedAt: now,
        finishedAt: now,
      });
      continue;
    }
    const c = classifySmtpReply(error!);
    const message = rawReply(error!);
    if (c.temporary && r.retryCount < policy.retryLimit) {
      const retryCount = r.retryCount + 1;
      const at = new Date(now.getTime() + retryDelayMs(retryCount, policy.baseDelayMs));
      if (!nextAttemptAt || at < nextAttemptAt) nextAttemptAt = at;
      updates.push({
        id: r.id,
        status: 'I',
        resultCode: 'RESENDING_MAIL',
        resultMessage: message,
        retryCount,
        receivedAt: null,
        finishedAt: null,
        temporaryResultCode: c.resultCode,
      });
    } else if (c.temporary) {
      updates.push({
        id: r.id,
        status: 'F',
        resultCode: 'RESEND_MAIL_FAIL',
        resultMessage: message,
        retryCount: r.retryCount,
        receivedAt: null,
        finishedAt: now,
        temporaryResultCode: c.resultCode,
      });
    } else {
      updates.push({ id: r.id, status: 'F', resultCode: c.resultCode, resultMessage: message, retryCount: r.retryCount, receivedAt: null, finishedAt: now });
    }
  }

  const after = new Map(updates.map((u) => [u.id, u.status]));
  const counts: Record<string, number> = {};
  for (const r of recipients) {
    const s = after.get(r.id) ?? r.status;
    counts[s] = (counts[s] ?? 0) + 1;
  }
  const rolled = rollUpStatus(counts);
  const final = rolled !== null && rolled !== 'I';
  return {
    recipients: updates,
    mail: { status: final ? rolled : 'I', nextAttemptAt: final ? null : nextAttemptAt, finishedAt: final ? now : null },
  };
}
