import type { components } from '../../generated/api.ts';
import { formatElapsed, toNesDateTime } from '../../shared/clock.ts';
import { formatNumericId } from '../../shared/ids.ts';
import { bounceTypeLabel, emailStatusLabel, recipientTypeLabel, reservationStatusLabel, resultCodeMessage, type Lang } from '../../shared/i18n.ts';
import type { Params, RenderValues } from '../../shared/render-tags.ts';

type Schemas = components['schemas'];
export type RequestListItem = Schemas['RequestListItem'];
export type RequestStatus = Schemas['RequestStatus'];
export type MailListItem = Schemas['MailListItem'];
export type MailDetail = Schemas['MailDetail'];
export type Recipient = Schemas['Recipient'];
export type RecipientListItem = Schemas['RecipientListItem'];

/** How the caller wants to see things: x-ncp-lang, DISPLAY_TIMEZONE, AD_TITLE_PREFIX. */
export interface ViewOptions {
  lang: Lang;
  timeZone: string;
  /** put in front of an advertising mail's title, as it was sent */
}

/** Columns of mail_requests shown in the request view (no body: it may be 500 KB). */
export interface RequestListRow {
  id: string;
  id_day: number;
  status: string;
  sender_address: string;
  sender_name: string | null;
  title: string;
  template_sid: string | null;
  template_name: string | null;
  advertising: boolean;
  reservation_at: Date | null;
  dispatch_type: string;
  requester_ip: string | null;
  request_count: number;
  recipient_count: number;
  created_at: Date;
  finished_at: Date | null;
  canceled_at: Date | null;
  started_at: Date | null;
  confirm_and_send: boolean;
  sent_now: boolean;
}

/** What rendering a mail's title needs from its request. */
export interface MailRequestRow {
  id: string;
  id_day: number;
  created_at: Date;
  title: string;
  template_sid: string | null;
  template_name: string | null;
  sender_address: string;
  sender_name: string | null;
  individual: boolean;
  advertising: boolean;
  parameters: unknown;
  reservation_at: Date | null;
  project_id: string;
  requester_ip: string | null;
  confirm_and_send: boolean;
  sent_now: boolean;
}

export interface MailDetailRequestRow extends MailRequestRow {
  body: string;
  references_header: string | null;
}

export interface MailRow {
  id: string;
  id_day: number;
  status: string;
  recipient_count: number;
  representative_address: string;
  finished_at: Date | null;
}

/** The recipient whose values a mail's title and body were rendered with. */
export interface RenderRecipientRow {
  address: string;
  name: string | null;
  parameters: unknown;
}

export interface RecipientRow extends RenderRecipientRow {
  type: string;
  status: string;
  result_code: string | null;
  result_message: string | null;
  retry_count: number;
  received_at: Date | null;
  temporary_result_code: string | null;
  bounce_type: string | null;
  bounce_status: string | null;
  bounce_message: string | null;
  bounced_at: Date | null;
  complaint_type: string | null;
  complained_at: Date | null;
}

/** What came back after the mail was handed over (DSN bounce, ARF complaint); nulls when nothing did. */
function feedbackFields(row: RecipientRow, view: ViewOptions) {
  return {
    bounceType: bounceTypeLabel(row.bounce_type, view.lang),
    bounceStatus: row.bounce_status,
    bounceMessage: row.bounce_message,
    bounceDate: toNesDateTime(row.bounced_at, view.timeZone),
    complaintType: row.complaint_type,
    complaintDate: toNesDateTime(row.complained_at, view.timeZone),
  };
}

export const publicId = (row: { id: string; id_day: number }) => formatNumericId(row.id_day, row.id);

const templateSid = (sid: string | null) => (sid === null ? null : Number(sid));

/**
 * How the request was (or will be) started: N immediate, Y at its reservation, W waiting for
 * confirmation (confirmAndSend; a reservation time given with it does not release it), S released
 * by "send now" (a reserved or confirm-and-send request).
 */
export function reservationStatusCode(r: { reservation_at: Date | null; confirm_and_send: boolean; sent_now: boolean }): 'N' | 'Y' | 'W' | 'S' {
  if (r.sent_now) return 'S';
  if (r.confirm_and_send) return 'W';
  return r.reservation_at ? 'Y' : 'N';
}

const reservationStatus = (r: { reservation_at: Date | null; confirm_and_send: boolean; sent_now: boolean }, lang: Lang) =>
  reservationStatusLabel(reservationStatusCode(r), lang);

/** A request that never started sending (cancelled while preparing or ready) has no send date. */
const sentAt = (row: { started_at: Date | null; finished_at: Date | null }) => (row.started_at ? row.finished_at : null);

export function toRequestListItem(row: RequestListRow, view: ViewOptions): RequestListItem {
  const tz = view.timeZone;
  return {
    requestId: publicId(row),
    templateSid: templateSid(row.template_sid),
    templateName: row.template_name,
    emailStatus: emailStatusLabel(row.status, view.lang),
    senderAddress: row.sender_address,
    senderName: row.sender_name,
    dispatchType: row.dispatch_type,
    requestDate: toNesDateTime(row.created_at, tz)!,
    sendDate: toNesDateTime(sentAt(row), tz),
    reservationDate: toNesDateTime(row.reservation_at, tz),
    requestCount: row.request_count,
    recipientCount: row.recipient_count,
    title: row.title,
    advertising: row.advertising,
    requesterIp: row.requester_ip,
    cancelDate: toNesDateTime(row.canceled_at, tz),
    // From when sending began (a reserved request's reservation time, or "send now") to the end.
    elapsedTime: row.started_at && row.finished_at ? formatElapsed(Math.max(0, row.finished_at.getTime() - row.started_at.getTime())) : null,
    reservationStatus: reservationStatus(row, view.lang),
  };
}

const FINAL_MAIL_STATUSES = ['S', 'F', 'PF', 'U', 'C'];

/**
 * getMailRequestStatus counters (ncp-api-reference §5.3) from the request and the number of its
 * stored mails in each status. readyCompleted: every mail is stored (the request left P).
 */
export function toRequestStatus(
  row: { id: string; id_day: number; status: string; request_count: number; reservation_at: Date | null },
  mailCounts: Readonly<Record<string, number>>,
  view: ViewOptions,
): RequestStatus {
  const count = (code: string) => mailCounts[code] ?? 0;
  const finishCount = FINAL_MAIL_STATUSES.reduce((sum, code) => sum + count(code), 0);
  const sentCount = count('S');
  const requestCount = row.request_count;
  return {
    requestId: publicId(row),
    readyCompleted: row.status !== 'P',
    allSentSuccess: requestCount > 0 && finishCount === requestCount && sentCount === requestCount,
    requestCount,
    sentCount,
    finishCount,
    readyCount: Object.values(mailCounts).reduce((sum, n) => sum + n, 0),
    reservationDate: toNesDateTime(row.reservation_at, view.timeZone),
    countsByStatus: Object.keys(mailCounts)
      .filter((code) => count(code) > 0)
      .sort()
      .map((code) => ({ status: emailStatusLabel(code, view.lang), count: count(code) })),
  };
}

/** jsonb arrives parsed; anything but an object holds no tag values. */
function asParams(value: unknown): Params {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * The values a mail was rendered with: an individual mail's own recipient; a general mail (its
 * To/Cc/Bcc share one body) the request's parameters and its first recipient's meta tags.
 * The unsubscribe tags hold a per-recipient secret token and are shown empty.
 */
export function renderValuesFor(
  request: Pick<MailRequestRow, 'individual' | 'parameters' | 'sender_name' | 'sender_address'>,
  recipient: RenderRecipientRow | undefined,
): RenderValues {
  return {
    recipientParams: request.individual ? asParams(recipient?.parameters) : undefined,
    requestParams: asParams(request.parameters),
    meta: {
      RECIPIENT_NAME: recipient?.name ?? '',
      RECIPIENT_ADDRESS: recipient?.address ?? '',
      SENDER_NAME: request.sender_name ?? '',
      SENDER_ADDRESS: request.sender_address,
    },
  };
}

/** "first@x.com", or "first@x.com(9)" for a mail to 10 addresses: the number counts the others. */
export function representativeRecipient(address: string, recipientCount: number): string {
  return recipientCount > 1 ? `${address}(${recipientCount - 1})` : address;
}

/** A cancelled mail was never sent: no send date. */
const mailSentAt = (mail: MailRow) => (mail.status === 'C' ? null : mail.finished_at);

export function toMailListItem(request: MailRequestRow, mail: MailRow, title: string, view: ViewOptions): MailListItem {
  return {
    projectId: request.project_id,
    requestId: publicId(request),
    requestDate: toNesDateTime(request.created_at, view.timeZone)!,
    mailId: publicId(mail),
    templateSid: templateSid(request.template_sid),
    templateName: request.template_name,
    title,
    emailStatus: emailStatusLabel(mail.status, view.lang),
    senderAddress: request.sender_address,
    senderName: request.sender_name,
    sendDate: toNesDateTime(mailSentAt(mail), view.timeZone),
    reservationDate: toNesDateTime(request.reservation_at, view.timeZone),
    reservationStatus: reservationStatus(request, view.lang),
    requesterIp: request.requester_ip,
    advertising: request.advertising,
    representativeRecipient: representativeRecipient(mail.representative_address, mail.recipient_count),
  };
}

export function toRecipient(row: RecipientRow, view: ViewOptions): Recipient {
  return {
    address: row.address,
    name: row.name,
    type: recipientTypeLabel(row.type, view.lang),
    received: row.received_at !== null,
    receivedDate: toNesDateTime(row.received_at, view.timeZone),
    status: emailStatusLabel(row.status, view.lang),
    retryCount: row.retry_count,
    sendResultMessage: row.result_message,
    sendResultCode: row.result_code,
    sendResultCodeMessage: resultCodeMessage(row.result_code, view.lang),
    temporaryResultCode: row.temporary_result_code,
    temporaryResultCodeMessage: resultCodeMessage(row.temporary_result_code, view.lang),
    ...feedbackFields(row, view),
  };
}

/** A recipient view row: the recipient with its mail's and request's columns. */
export interface RecipientListRow extends RecipientRow {
  id: string;
  project_id: string;
  finished_at: Date | null;
  unsubscribed: boolean;
  unsubscribed_at: Date | null;
  /** keyset cursor parts, exact (microseconds) */
  cursor_at: string;
  cursor_request_at: string;
  mail_id: string;
  mail_id_day: number;
  request_id: string;
  request_id_day: number;
  request_created_at: Date;
  reservation_at: Date | null;
  template_sid: string | null;
  template_name: string | null;
  title: string;
  individual: boolean;
  request_parameters: unknown;
  sender_address: string;
  sender_name: string | null;
}

export function toRecipientListItem(row: RecipientListRow, title: string, view: ViewOptions): RecipientListItem {
  const tz = view.timeZone;
  return {
    projectId: row.project_id,
    requestId: formatNumericId(row.request_id_day, row.request_id),
    mailId: formatNumericId(row.mail_id_day, row.mail_id),
    requestDate: toNesDateTime(row.request_created_at, tz)!,
    sendDate: toNesDateTime(row.finished_at, tz),
    reservationDate: toNesDateTime(row.reservation_at, tz),
    emailStatus: emailStatusLabel(row.status, view.lang),
    templateSid: templateSid(row.template_sid),
    templateName: row.template_name,
    title,
    address: row.address,
    name: row.name,
    type: recipientTypeLabel(row.type, view.lang),
    received: row.received_at !== null,
    receivedDate: toNesDateTime(row.received_at, tz),
    unsubscribed: row.unsubscribed,
    // unsubscribed_at also records a resubscription: a date only while unsubscribed
    unsubscribedDate: row.unsubscribed ? toNesDateTime(row.unsubscribed_at, tz) : null,
    sendResultCode: row.result_code,
    sendResultCodeMessage: resultCodeMessage(row.result_code, view.lang),
    sendResultMessage: row.result_message,
    retryCount: row.retry_count,
    temporaryResultCode: row.temporary_result_code,
    temporaryResultCodeMessage: resultCodeMessage(row.temporary_result_code, view.lang),
    ...feedbackFields(row, view),
  };
}

export function toMailDetail(
  request: MailDetailRequestRow,
  mail: MailRow,
  content: { title: string; body: string },
  recipients: RecipientRow[],
  attachFiles: MailDetail['attachFiles'],
  view: ViewOptions,
): MailDetail {
  const tz = view.timeZone;
  return {
    projectId: request.project_id,
    requestId: publicId(request),
    requesterIp: request.requester_ip,
    requestDate: toNesDateTime(request.created_at, tz)!,
    mailId: publicId(mail),
    title: content.title,
    templateSid: templateSid(request.template_sid),
    templateName: request.template_name,
    emailStatus: emailStatusLabel(mail.status, view.lang),
    senderAddress: request.sender_address,
    senderName: request.sender_name,
    sendDate: toNesDateTime(mailSentAt(mail), tz),
    reservationDate: toNesDateTime(request.reservation_at, tz),
    reservationStatus: reservationStatus(request, view.lang),
    body: content.body,
    referencesHeader: request.references_header,
    advertising: request.advertising,
    attachFiles,
    recipients: recipients.map((r) => toRecipient(r, view)),
  };
}
