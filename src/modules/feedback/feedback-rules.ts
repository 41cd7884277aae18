import { classifySmtpReply, HARD_BOUNCE_CODES } from '../delivery/classify-smtp-reply.ts';
import { storableText } from '../../shared/storable-text.ts';
import type { DsnRecipient, ParsedReport } from './parse-report.ts';
import type { FeedbackTarget, FeedbackWrite } from './feedback.repository.ts';

/** What one report does to one recipient; pure. */
export interface FeedbackChange {
  write: FeedbackWrite;
  projectId: string;
  address: string;
  mailId: string;
  kind: 'hard_bounce' | 'soft_bounce' | 'complaint';
  /** the recipient turned from sent into failed: its mail and request roll up again */
  failed: boolean;
  /** the address goes on the send-block list (the synchronous 5xx rule: it can't receive) */
  block: { resultCode: string; resultMessage: string | null } | null;
}

const MAX_MESSAGE = 1_000;

/** ARF feedback types (RFC 5965, 6591, 6650) that are a complaint about the mail. */
const COMPLAINT_TYPES = new Set(['abuse', 'fraud', 'virus', 'other']);

const lower = (a: string | undefined) => a?.trim().toLowerCase();

/**
 * The DSN blocks about the token's recipient: those naming its address (original recipient
 * first, as the sender wrote it, then the final one, which forwarding may have changed), else the
 * report's one failure or delay whatever address it names (an alias rewrote it: the VERP token
 * already says whose mail it was), unless the report came to several tokens (`soleToken` false)
 * and no longer says which of them it is about. Blocks naming other addresses are never applied
 * to other recipients: each recipient has a return path of its own, and another recipient's
 * token must not speak for it.
 */
function blocksFor(target: FeedbackTarget, blocks: DsnRecipient[], soleToken: boolean): DsnRecipient[] {
  const bounces = blocks.filter((b) => b.action === 'failed' || b.action === 'delayed');
  const address = target.address.toLowerCase();
  const named = bounces.filter((b) => lower(b.originalRecipient) === address || lower(b.finalRecipient) === address);
  if (named.length || !soleToken) return named;
  return bounces.length === 1 ? bounces : [];
}

/** Permanent: a failed action with a 5.x.x status (or none: "failed" is the report's verdict). */
const isHard = (b: DsnRecipient) => b.action === 'failed' && !/^[24]\./.test(b.status ?? '');

/**
 * The NCP result code of a late hard bounce, as a synchronous reply's would be: from the DSN's
 * status, or from the remote server's own reply in Diagnostic-Code when the status is only the
 * generic 5.0.0 (Exim writes 5.0.0 whatever the reply was).
 */
export function resultCodeOfBounce(b: DsnRecipient): string {
  const status = b.status && /^5\.\d{1,3}\.\d{1,3}$/.test(b.status) ? b.status : '5.0.0';
  const diagnostic = (b.diagnosticCode ?? '').trim();
  const reply = /^(5\d\d)\b/.exec(diagnostic);
  if (status === '5.0.0' && reply) {
    const own = classifySmtpReply({ responseCode: Number(reply[1]), response: diagnostic });
    if (!own.temporary) return own.resultCode;
  }
  const text = diagnostic.replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3}\s*)?/, '');
  return classifySmtpReply({ responseCode: 550, response: `550 ${status} ${text}` }).resultCode;
}

/**
 * A report's text as a column can hold it: at most MAX_MESSAGE characters, without NUL, which
 * PostgreSQL text refuses (the statement would fail, and with it the whole batch, every time the
 * sending MTA retried).
 */
function clip(text: string | undefined): string | null {
  const t = text === undefined ? undefined : storableText(text);
  if (!t) return null;
  return t.length > MAX_MESSAGE ? t.slice(0, MAX_MESSAGE) : t;
}

/**
 * What `report` changes on the recipient its VERP token names (`t`), and on no other: a report
 * can only speak for the recipient whose return path it came to. Nothing for a duplicate: a
 * second hard bounce, a soft bounce after a hard one, a soft bounce with the status and message
 * already recorded (the same report again, its sender not having seen our 250), a second
 * complaint. `soleToken`: the report came to this token alone (see blocksFor).
 */
export function changesFor(report: ParsedReport, t: FeedbackTarget, now: Date, soleToken = true): FeedbackChange[] {
  const base: FeedbackWrite = {
    id: t.id,
    status: t.status,
    resultCode: null,
    resultMessage: null,
    bounceType: t.bounce_type,
    bounceStatus: null,
    bounceMessage: null,
    bouncedAt: null,
    complaintType: t.complaint_type,
    complainedAt: null,
  };
  if (report.kind === 'arf') {
    // Only the recipient's own complaints: not-spam, auth-failure (a DKIM/SPF failure report) and
    // the like say nothing against receiving the mail.
    if (!COMPLAINT_TYPES.has(report.feedbackType.toLowerCase())) return [];
    if (t.complaint_type !== null) return [];
    const write = { ...base, complaintType: report.feedbackType.toLowerCase().slice(0, 64), complainedAt: now };
    return [{ write, projectId: t.project_id, address: t.address, mailId: t.mail_id, kind: 'complaint', failed: false, block: null }];
  }
  if (report.kind !== 'dsn') return [];
  const blocks = blocksFor(t, report.recipients, soleToken);
  if (!blocks.length || t.bounce_type === 'H') return [];
  const b = blocks.find(isHard) ?? blocks[0]!;
  const hard = isHard(b);
  const message = clip(b.diagnosticCode) ?? clip(b.status);
  if (!hard && t.bounce_type === 'S' && t.bounce_status === (b.status ?? null) && t.bounce_message === message) return [];
  const write: FeedbackWrite = {
    ...base,
    bounceType: hard ? 'H' : 'S',
    bounceStatus: b.status ?? null,
    bounceMessage: message,
    bouncedAt: now,
  };
  let failed = false;
  let block: FeedbackChange['block'] = null;
  if (hard) {
    const resultCode = resultCodeOfBounce(b);
    // A sent recipient fails; one that failed already keeps its own result (the bounce is recorded beside it).
    if (t.status === 'S') {
      failed = true;
      write.status = 'F';
      write.resultCode = resultCode;
      write.resultMessage = message;
    }
    if (HARD_BOUNCE_CODES.has(resultCode as never)) block = { resultCode, resultMessage: message };
  }
  return [{ write, projectId: t.project_id, address: t.address, mailId: t.mail_id, kind: hard ? 'hard_bounce' : 'soft_bounce', failed, block }];
}
