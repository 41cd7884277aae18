import { MAIL_STATUSES, RECIPIENT_STATUSES, REQUEST_STATUSES, type RequestStatus } from '../../shared/statuses.ts';
import { badRequest } from '../../shared/errors.ts';
import { RESULT_CODES } from '../../shared/i18n.ts';
import { parseNumericId, type NumericId } from '../../shared/ids.ts';
import { parseDateRange, parseMultiValue, parseStatuses, single, type DateRange, type RawQuery } from '../../http/query-params.ts';

/**
 * The search bar shared by the request, mail and recipient views (and their exports): one
 * parser, one meaning. Each filter only narrows. Request-level filters (date range = request
 * date, requestId, senderAddress, title, templateSid, dispatchType) mean the same request set
 * on every view; sendStatus is the status of the view's own row (request, mail or recipient);
 * sendResultCode, recipientAddress, bounceType and complained match a recipient (a request or
 * mail matches when at least one of its recipients does).
 */

export type ViewName = 'requests' | 'mails' | 'recipients';

export const DISPATCH_TYPES = ['CONSOLE', 'API'] as const;

/** bounceType filter values: HARD / SOFT (recipients.bounce_type H / S), ANY (either). */
export const BOUNCE_TYPE_FILTERS = ['HARD', 'SOFT', 'ANY'] as const;
export type BounceTypeFilter = (typeof BOUNCE_TYPE_FILTERS)[number];

/** The console shows the last two months; a request list without dates gets that window. */
export const DEFAULT_WINDOW_MONTHS = 2;

export function statusCodesOf(view: ViewName): readonly string[] {
  return view === 'requests' ? REQUEST_STATUSES : view === 'mails' ? MAIL_STATUSES : RECIPIENT_STATUSES;
}

export interface ViewFilters {
  /** request date, both ends inclusive */
  range: DateRange;
  /** null: malformed, matches nothing */
  requestId?: NumericId | null;
  /** null: malformed, matches nothing */
  mailId?: NumericId | null;
  /** exact, ignoring case */
  recipientAddress?: string;
  /** exact, ignoring case */
  senderAddress?: string;
  /** partial, ignoring case */
  title?: string;
  /** bigint as a decimal string */
  templateSid?: string;
  dispatchType?: string;
  /** upper-case codes valid for the view */
  /** validated against the view's own statuses (statusCodesOf) */
  sendStatus?: RequestStatus[];
  sendResultCode?: string[];
  /** a bounce came back for the recipient: of this type, or of either (ANY) */
  bounceType?: BounceTypeFilter;
  /** only true: a complaint came back for the recipient */
  complained?: true;
}

function nonEmpty(raw: RawQuery, field: string): string | undefined {
  const v = single(raw[field], field);
  if (v === undefined) return undefined;
  const t = String(v).trim();
  // PostgreSQL text can't hold NUL: refused here rather than failing the query
  if (t.includes('\u0000')) throw badRequest(`${field}: must not contain NUL characters`);
  return t === '' ? undefined : t;
}

function idFilter(raw: RawQuery, field: string): NumericId | null | undefined {
  const v = nonEmpty(raw, field);
  return v === undefined ? undefined : (parseNumericId(v) ?? null);
}

function monthsBefore(date: Date, months: number): Date {
  const d = new Date(date.getTime());
  d.setUTCMonth(d.getUTCMonth() - months);
  return d;
}

export function parseResultCodes(raw: unknown, field = 'sendResultCode'): string[] | undefined {
  const values = parseMultiValue(raw, field);
  if (!values) return undefined;
  const codes: string[] = [];
  for (const v of values) {
    const code = v.toUpperCase();
    if (!(RESULT_CODES as readonly string[]).includes(code)) {
      throw badRequest(`${field}: unknown send result code "${v}" (allowed: ${RESULT_CODES.join(', ')})`);
    }
    if (!codes.includes(code)) codes.push(code);
  }
  return codes;
}

/**
 * `complained=true` (a boolean once the API's validator coerced it; text from an export's
 * filters). Only true: "without a complaint" is nearly every recipient, which no index narrows.
 * Exactly "true", as the validator takes it on the views: `TRUE` is refused there, so an export
 * refuses it too rather than mean something its view won't.
 */
function parseComplained(raw: unknown): true | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === null || v === '') return undefined;
  if (v === true || v === 'true') return true;
  throw badRequest('complained: must be true');
}

export interface ParseFilterOptions {
  timeZone: string;
  now: Date;
  /**
   * A missing start means DEFAULT_WINDOW_MONTHS before the end (or now), unless the filters name
   * a requestId or mailId: the console's window. The request and recipient views use it; the
   * mail view (one request) does not.
   */
  defaultWindow?: boolean;
  /** the mail view as an export: one request, named by the filters */
  requireRequestId?: boolean;
}

/** Throws badRequest (77102) naming the field. */
export function parseFilters(view: ViewName, raw: RawQuery, opts: ParseFilterOptions): ViewFilters {
  const range = parseDateRange(raw, opts.timeZone);
  const requestId = idFilter(raw, 'requestId');
  const mailId = idFilter(raw, 'mailId');
  if (opts.requireRequestId && requestId === undefined) throw badRequest('requestId: the mail view needs a requestId');
  if (opts.defaultWindow && !range.start && requestId === undefined && mailId === undefined) {
    range.start = monthsBefore(range.end ?? opts.now, DEFAULT_WINDOW_MONTHS);
  }
  const dispatchType = nonEmpty(raw, 'dispatchType')?.toUpperCase();
  if (dispatchType !== undefined && !(DISPATCH_TYPES as readonly string[]).includes(dispatchType)) {
    throw badRequest(`dispatchType: must be one of ${DISPATCH_TYPES.join(', ')}`);
  }
  const sid = single(raw.templateSid, 'templateSid');
  let templateSid: string | undefined;
  if (sid !== undefined) {
    const text = String(sid).trim();
    if (!/^\d{1,18}$/.test(text)) throw badRequest('templateSid: must be a whole number');
    templateSid = String(BigInt(text));
  }
  const bounceType = nonEmpty(raw, 'bounceType')?.toUpperCase();
  if (bounceType !== undefined && !(BOUNCE_TYPE_FILTERS as readonly string[]).includes(bounceType)) {
    throw badRequest(`bounceType: must be one of ${BOUNCE_TYPE_FILTERS.join(', ')}`);
  }
  const complained = parseComplained(raw.complained);
  return {
    range,
    requestId,
    mailId,
    recipientAddress: nonEmpty(raw, 'recipientAddress'),
    senderAddress: nonEmpty(raw, 'senderAddress'),
    title: nonEmpty(raw, 'title'),
    templateSid,
    dispatchType,
    sendStatus: parseStatuses(raw.sendStatus, statusCodesOf(view)) as RequestStatus[] | undefined,
    sendResultCode: parseResultCodes(raw.sendResultCode),
    bounceType: bounceType as BounceTypeFilter | undefined,
    complained,
  };
}

/** Some filter matches nothing whatever the data (a malformed id). */
export const matchesNothing = (f: ViewFilters): boolean => f.requestId === null || f.mailId === null;
