import type { ResultCode } from '../../shared/i18n.ts';

/** What nodemailer reports for one attempt: an error (or a `rejectedErrors` entry), or `{ responseCode: 250, response: '250 OK' }`. */
export interface SmtpOutcomeInput {
  responseCode?: number;
  response?: string;
  errorCode?: string;
  message?: string;
}

export interface Classification {
  resultCode: ResultCode;
  temporary: boolean;
  hardBounce: boolean;
  success: boolean;
}

/**
 * Permanent failures that put the recipient on the send-block list: those that say the address
 * itself can't receive (unknown user 5.1.x, no such domain, mailbox disabled 5.2.x). NCP's guide
 * also counts content, policy, network, mail-service and other SMTP errors, but the list is
 * service-wide: one project's oversized or DMARC-rejected mail, or a relay's routing trouble,
 * would then block a working address for every project for a week.
 */
export const HARD_BOUNCE_CODES: ReadonlySet<ResultCode> = new Set<ResultCode>(['MAILBOX_ERROR', 'NONEXISTENT_DOMAIN_ADDRESS', 'RECIPIENT_ADDRESS_ERROR']);

/** nodemailer / Node socket codes that mean "no usable reply from the next hop". */
const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROXY',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

const DOMAIN_NOT_FOUND = /\b(host|domain) (name )?not found\b/i;
const BAD_SYNTAX = /\bbad address syntax\b/i;
// "RecipientNotFound" / "Recipient not found": Exchange and Office 365 (550 5.1.10).
const USER_UNKNOWN = /\b(user unknown|unknown user|no such user|mailbox unavailable|recipient address rejected|recipient ?not ?found)\b/i;

/**
 * The enhanced status code (RFC 3463, "class.subject.detail") after the reply code, e.g. "550 5.1.1" or "550-5.1.1".
 * Its subject says *what* failed (1 address, 2 mailbox, 3 mail system, 4 network/routing, 6 content, 7 security/policy),
 * which the bare 3-digit reply code (RFC 5321) cannot tell us, so it wins over the reply code where it is known.
 */
function enhancedCode(response: string): { subject: number; detail: number } | undefined {
  const m = /^\d{3}[ -][245]\.(\d{1,3})\.(\d{1,3})\b/m.exec(response);
  return m ? { subject: Number(m[1]), detail: Number(m[2]) } : undefined;
}

/** Category from the enhanced code's subject/detail; undefined means "other 4xx/5xx". */
function byEnhanced(subject: number, detail: number, permanent: boolean): ResultCode | undefined {
  const pick = (temp: ResultCode, perm: ResultCode): ResultCode => (permanent ? perm : temp);
  if (permanent && subject === 1) {
    if (detail === 0 || detail === 1 || detail === 3) return 'RECIPIENT_ADDRESS_ERROR';
    if (detail === 2) return 'NONEXISTENT_DOMAIN_ADDRESS';
    if (detail === 7) return 'UNSUPPORTED_ENCODING_ADDRESS';
  }
  if (permanent && subject === 6) return detail === 7 ? 'UNSUPPORTED_ENCODING_ADDRESS' : 'MAIL_CONTENTS_ERROR';
  if (permanent && subject === 3 && detail === 4) return 'MAIL_CONTENTS_ERROR'; // message too big for system
  switch (subject) {
    case 2:
      return pick('MAILBOX_ABNORMAL', 'MAILBOX_ERROR');
    case 3:
      return pick('RECEIVE_MAIL_SERVICE_ABNORMAL', 'RECEIVE_MAIL_SERVICE_ERROR');
    case 4:
      return pick('NETWORK_ABNORMAL', 'NETWORK_ERROR');
    case 7:
      return pick('SECURITY_AND_POLICY_ABNORMAL', 'SECURITY_AND_POLICY_ERROR');
    default:
      return undefined;
  }
}

/** Used when there is no (meaningful) enhanced code: the reply code and, for 5xx, the reply text. */
function byReply(code: number, text: string): ResultCode {
  if (code < 500) return 'SMTP_ABNORMAL';
  if (DOMAIN_NOT_FOUND.test(text)) return 'NONEXISTENT_DOMAIN_ADDRESS';
  if (BAD_SYNTAX.test(text)) return 'UNSUPPORTED_ENCODING_ADDRESS';
  if (code === 552) return 'MAIL_CONTENTS_ERROR';
  if (USER_UNKNOWN.test(text)) return 'RECIPIENT_ADDRESS_ERROR';
  return 'SMTP_ERROR';
}

function result(resultCode: ResultCode, temporary: boolean): Classification {
  return { resultCode, temporary, hardBounce: HARD_BOUNCE_CODES.has(resultCode), success: resultCode === 'MAIL_SENT' };
}

/** Map one SMTP outcome to a product result code. Pure. */
export function classifySmtpReply(input: SmtpOutcomeInput): Classification {
  const response = input.response ?? '';
  const code = replyCodeOf(input);

  if (code === undefined) {
    // No SMTP reply at all: the connection failed, or something else went wrong locally.
    if (DOMAIN_NOT_FOUND.test(`${input.message ?? ''} ${response}`)) return result('NONEXISTENT_DOMAIN_ADDRESS', false);
    if (input.errorCode && CONNECTION_CODES.has(input.errorCode)) return result('CONNECTION_ABNORMAL', true);
    return result('UNKNOWN_CAUSE_FAIL', false);
  }

  const replyClass = Math.floor(code / 100);
  if (replyClass === 2) return result('MAIL_SENT', false);
  if (replyClass !== 4 && replyClass !== 5) return result('UNDEFINED_ERROR', false);
  if (code === 421) return result('RECEIVE_MAIL_SERVICE_ABNORMAL', true); // service closing the channel

  const permanent = replyClass === 5;
  const enhanced = enhancedCode(response);
  // X.0.x ("other or undefined") says nothing, and a detail the table doesn't know (Exchange's
  // 5.1.10 RecipientNotFound) little: then the reply code and its text decide.
  const resultCode = (enhanced && enhanced.subject !== 0 && byEnhanced(enhanced.subject, enhanced.detail, permanent)) || byReply(code, response);
  return result(resultCode, !permanent);
}

/** The SMTP reply code an outcome carries (nodemailer's responseCode, else the reply's first digits); undefined when no host replied. */
export function replyCodeOf(input: Pick<SmtpOutcomeInput, 'responseCode' | 'response'>): number | undefined {
  if (isReplyCode(input.responseCode)) return input.responseCode;
  const code = Number(/^\s*(\d{3})\b/.exec(input.response ?? '')?.[1] ?? NaN);
  return isReplyCode(code) ? code : undefined;
}

function isReplyCode(code: number | undefined): code is number {
  return code !== undefined && Number.isInteger(code) && code >= 100 && code <= 999;
}
