import { simpleParser } from 'mailparser';
import type { Attachment, ParsedMail } from 'mailparser';

/**
 * What one message received at the bounce listener says, read from its machine-readable part:
 * a delivery status notification (RFC 3464, and RFC 6533's UTF-8 variant) or a complaint in the
 * Abuse Reporting Format (RFC 5965). Anything else, and anything that can't be read (malformed,
 * truncated, binary, hostile), is `other` with a reason: this function never throws.
 *
 * mailparser finds the MIME parts; the report bodies (header-syntax field blocks) are read here,
 * because mailparser only turns them into display text. The returned message (`original`) is
 * read for its header block only, however big its body: a complaint is traced back to its
 * recipient by the VERP address in that Return-Path.
 *
 * The work is bounded whatever the input: at most `maxBytes` of it are parsed (the report parts
 * come before the returned message, so a truncated bounce of a huge mail still reads), at most
 * `maxRecipients` recipient blocks or Original-Rcpt-To fields are kept (parsing stops there), and
 * every field value is cut at a few kilobytes.
 */

export type ParsedReport =
  | { kind: 'dsn'; recipients: DsnRecipient[]; original: OriginalMessage }
  | {
      kind: 'arf';
      feedbackType: string;
      originalRcptTo: string[];
      originalMailFrom?: string;
      userAgent?: string;
      arrivalDate?: Date;
      original: OriginalMessage;
    }
  | { kind: 'other'; reason: string };

export interface DsnRecipient {
  /** The address only: no "rfc822;" type, no angle brackets; the domain lower-cased. */
  finalRecipient?: string;
  originalRecipient?: string;
  /** Lower-cased; when a broken MTA leaves it out, inferred from the status class (5 failed, 4 delayed, 2 delivered). */
  action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded' | (string & {});
  /** RFC 3463 "class.subject.detail", without comments, e.g. "5.1.1". Exim always reports 5.0.0: see diagnosticCode. */
  status?: string;
  /** The text after the "smtp;" (or other) type, folded lines joined by one space, trimmed, at most 1,000 characters. */
  diagnosticCode?: string;
  /** Host name (or address literal) of the MTA that reported the failure, without its type and comments. */
  remoteMta?: string;
}

export interface OriginalMessage {
  /** The envelope sender the returned message carried, without angle brackets (absent for the null sender "<>"). */
  returnPath?: string;
  /** As written, angle brackets included: "<id@host>". */
  messageId?: string;
  /** Every header of the returned message: lower-cased name -> its first value, unfolded. */
  headers?: Map<string, string>;
}

export interface ParseReportLimits {
  /** Only this many bytes of the message are parsed; the rest is ignored. */
  maxBytes: number;
  /** Recipient blocks (DSN) or Original-Rcpt-To fields (ARF) kept; parsing stops there. */
  maxRecipients: number;
}

export const DEFAULT_PARSE_REPORT_LIMITS: Readonly<ParseReportLimits> = Object.freeze({ maxBytes: 4 * 1024 * 1024, maxRecipients: 1000 });

const STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const FEEDBACK_TYPE = 'message/feedback-report';
const ORIGINAL_TYPES = new Set(['message/rfc822', 'text/rfc822-headers', 'message/global', 'message/global-headers']);

const MAX_DIAGNOSTIC_CHARS = 1000;
/** A field value (folded lines included) is cut here: nothing we read from one is longer than a diagnostic. */
const MAX_FIELD_CHARS = 4096;
/** Fields read from one block; an ARF report with its repeated Original-Rcpt-To is one block. */
const MAX_FIELDS_PER_BLOCK = 2000;
/** The returned message's header block is looked for in its first bytes only. */
const MAX_ORIGINAL_HEAD_BYTES = 256 * 1024;
const MAX_ORIGINAL_HEADERS = 500;

/**
 * mailparser options for reading structure only: report bodies and returned messages stay
 * attachments with their bytes (`ignoreEmbedded`, passed on to mailsplit, stops it from opening
 * an inline message/rfc822 as part of the report, which would hide its headers), and no
 * text/HTML conversion or hashing is done.
 */
const PARSER_OPTIONS = {
  keepDeliveryStatus: true,
  ignoreEmbedded: true,
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  checksumAlgo: false as const,
};

/** Read one received message (the raw bytes of the SMTP DATA phase). Never throws. */
export async function parseReport(raw: Buffer, limits: Partial<ParseReportLimits> = {}): Promise<ParsedReport> {
  const { maxBytes, maxRecipients } = { ...DEFAULT_PARSE_REPORT_LIMITS, ...limits };
  try {
    if (!Buffer.isBuffer(raw) || raw.length === 0) return other('empty message');
    let mail: ParsedMail;
    try {
      mail = await simpleParser(withMimeHeadersOnly(raw.length > maxBytes ? raw.subarray(0, maxBytes) : raw), PARSER_OPTIONS);
    } catch (err) {
      return other(`unreadable MIME structure: ${errorMessage(err)}`);
    }
    return readReport(mail, maxRecipients);
  } catch (err) {
    // Not expected: every step above is meant to cope with anything. Still never a throw to the listener.
    return other(`unreadable report: ${errorMessage(err)}`);
  }
}

const MIME_HEADER = /^(content-type|content-transfer-encoding|mime-version)[ \t]*:/i;
/** The top-level header block is looked for in the first bytes only; a message without one there is passed on whole. */
const MAX_TOP_HEAD_BYTES = 256 * 1024;

/**
 * The message with its top-level header block cut down to the MIME headers. mailparser decodes
 * every header it sees (addresses, dates, encoded words) and nothing here reads any but
 * Content-Type, so this takes about a third off its work on a typical bounce, whose own headers
 * (Received, DKIM-Signature, X-MS-Exchange-*) are most of its header lines.
 */
function withMimeHeadersOnly(raw: Buffer): Buffer {
  const head = raw.subarray(0, MAX_TOP_HEAD_BYTES);
  const ends = [head.indexOf('\r\n\r\n'), head.indexOf('\n\n')].filter((i) => i >= 0);
  if (ends.length === 0) return raw;
  const end = Math.min(...ends);
  const kept: string[] = [];
  let keep = false;
  for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const first = line.charCodeAt(0);
    if (first !== 32 && first !== 9) keep = MIME_HEADER.test(line);
    if (keep) kept.push(line);
  }
  return Buffer.concat([Buffer.from(kept.join('\r\n'), 'latin1'), raw.subarray(end)]);
}

function readReport(mail: ParsedMail, maxRecipients: number): ParsedReport {
  const attachments = mail.attachments ?? [];
  const statusPart = shallowest(attachments.filter((a) => STATUS_TYPES.has(a.contentType)));
  const feedbackPart = shallowest(attachments.filter((a) => a.contentType === FEEDBACK_TYPE));
  const reportType = topReportType(mail);

  let use: 'dsn' | 'arf';
  if (statusPart && feedbackPart) {
    // Both kinds in one message (a report quoting another): the top-level report-type decides, then nesting depth.
    if (reportType === 'feedback-report') use = 'arf';
    else if (reportType === 'delivery-status') use = 'dsn';
    else use = depth(feedbackPart) < depth(statusPart) ? 'arf' : 'dsn';
  } else if (statusPart) use = 'dsn';
  else if (feedbackPart) use = 'arf';
  else
    return other(
      reportType ? `multipart/report (${reportType}) without a delivery-status or feedback-report part` : 'not a delivery status or feedback report',
    );

  const reportPart = use === 'dsn' ? statusPart! : feedbackPart!;
  const original = readOriginal(originalPart(attachments, reportPart));
  const body = reportPart.content.toString('utf8');

  if (use === 'dsn') {
    const recipients = readDeliveryStatus(body, maxRecipients);
    if (recipients.length === 0) return other('delivery-status part without recipient fields');
    return { kind: 'dsn', recipients, original };
  }
  return readFeedbackReport(body, maxRecipients, original);
}

function readDeliveryStatus(body: string, maxRecipients: number): DsnRecipient[] {
  const recipients: DsnRecipient[] = [];
  for (const block of fieldBlocks(body)) {
    let current: Map<string, string> | undefined;
    for (const { name, value } of block) {
      // Per-message fields (Reporting-MTA, Arrival-Date, X-Postfix-*) share no names with recipient fields;
      // a block that repeats Final-Recipient lacks the blank line between two recipients.
      if (name === 'final-recipient' && current?.has('final-recipient')) {
        if (pushRecipient(recipients, current) >= maxRecipients) return recipients;
        current = undefined;
      }
      current ??= new Map();
      if (!current.has(name)) current.set(name, value);
    }
    if (current && pushRecipient(recipients, current) >= maxRecipients) return recipients;
  }
  return recipients;
}

/** Adds the block as a recipient when it is one (has Final-Recipient, Original-Recipient or Action); returns the count. */
function pushRecipient(recipients: DsnRecipient[], fields: Map<string, string>): number {
  const finalRecipient = address(fields.get('final-recipient'));
  const originalRecipient = address(fields.get('original-recipient'));
  const actionField = fields.get('action');
  if (finalRecipient === undefined && originalRecipient === undefined && actionField === undefined) return recipients.length;

  const status = statusCode(fields.get('status'));
  const recipient: DsnRecipient = { action: action(actionField, status) };
  if (finalRecipient !== undefined) recipient.finalRecipient = finalRecipient;
  if (originalRecipient !== undefined) recipient.originalRecipient = originalRecipient;
  if (status !== undefined) recipient.status = status;
  const diagnostic = fields.get('diagnostic-code');
  if (diagnostic !== undefined) {
    const text = withoutType(diagnostic).slice(0, MAX_DIAGNOSTIC_CHARS).trim();
    if (text) recipient.diagnosticCode = text;
  }
  const remoteMta = fields.get('remote-mta');
  if (remoteMta !== undefined) {
    const host = withoutComments(withoutType(remoteMta)).trim().replace(/\.$/, '');
    if (host) recipient.remoteMta = host;
  }
  recipients.push(recipient);
  return recipients.length;
}

function readFeedbackReport(body: string, maxRecipients: number, original: OriginalMessage): ParsedReport {
  const first = new Map<string, string>();
  const originalRcptTo: string[] = [];
  // RFC 5965 has one block; some senders leave blank lines in it, so every block counts.
  for (const block of fieldBlocks(body)) {
    for (const { name, value } of block) {
      if (name === 'original-rcpt-to') {
        const rcpt = address(value);
        if (rcpt?.includes('@') && originalRcptTo.length < maxRecipients) originalRcptTo.push(rcpt);
      } else if (!first.has(name)) first.set(name, value);
    }
  }
  const feedbackType = withoutComments(first.get('feedback-type') ?? '')
    .trim()
    .toLowerCase();
  if (!feedbackType) return other('feedback-report part without Feedback-Type');

  const report: ParsedReport = { kind: 'arf', feedbackType, originalRcptTo, original };
  const mailFrom = address(first.get('original-mail-from'));
  if (mailFrom !== undefined) report.originalMailFrom = mailFrom;
  const userAgent = first.get('user-agent')?.trim();
  if (userAgent) report.userAgent = userAgent;
  // Yahoo and AOL write Received-Date where RFC 5965 says Arrival-Date.
  const arrivalDate = date(first.get('arrival-date') ?? first.get('received-date'));
  if (arrivalDate) report.arrivalDate = arrivalDate;
  return report;
}

/** The returned message: a sibling of the report part if there is one (RFC 3464/5965 put it third), else the shallowest. */
function originalPart(attachments: Attachment[], reportPart: Attachment): Attachment | undefined {
  const candidates = attachments.filter((a) => ORIGINAL_TYPES.has(a.contentType));
  const parent = parentId(reportPart);
  return candidates.find((a) => parentId(a) === parent) ?? shallowest(candidates);
}

function readOriginal(part: Attachment | undefined): OriginalMessage {
  if (!part || !Buffer.isBuffer(part.content)) return {};
  const headers = new Map<string, string>();
  for (const { name, value } of fieldBlocks(headerBlock(part.content)).next().value ?? []) {
    if (headers.size >= MAX_ORIGINAL_HEADERS) break;
    if (!headers.has(name)) headers.set(name, value.trim());
  }
  const original: OriginalMessage = { headers };
  const returnPath = address(headers.get('return-path'));
  if (returnPath) original.returnPath = returnPath;
  const messageId = headers.get('message-id');
  if (messageId) original.messageId = messageId;
  return original;
}

/** The header block at the start of a returned message, as text: up to its first blank line, never its body. */
function headerBlock(content: Buffer): string {
  let start = 0;
  while (start < content.length && (content[start] === 0x0d || content[start] === 0x0a)) start++;
  const head = content.subarray(start, start + MAX_ORIGINAL_HEAD_BYTES);
  const crlf = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  return head.subarray(0, ends.length ? Math.min(...ends) : head.length).toString('utf8');
}

interface Field {
  name: string;
  value: string;
}

const FIELD_NAME = /^([!-9;-~]+)[ \t]*:/;

/**
 * Header-syntax blocks separated by blank lines, each a list of fields with lower-cased names and
 * unfolded values (each continuation line trimmed and joined with one space). Lines that are
 * neither a field nor a continuation are skipped. Lazy, so a reader can stop early.
 */
function* fieldBlocks(text: string): Generator<Field[]> {
  let block: Field[] = [];
  let field: { name: string; parts: string[]; length: number } | undefined;
  const finish = () => {
    if (field && block.length < MAX_FIELDS_PER_BLOCK) block.push({ name: field.name, value: field.parts.join(' ').trim() });
    field = undefined;
  };
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    pos = end + 1;

    const first = line.charCodeAt(0);
    if (line.length === 0 || ((first === 32 || first === 9) && line.trim() === '')) {
      finish();
      if (block.length > 0) yield block;
      block = [];
      continue;
    }
    if (first === 32 || first === 9) {
      if (field && field.length < MAX_FIELD_CHARS) {
        const piece = line.trim().slice(0, MAX_FIELD_CHARS - field.length);
        field.parts.push(piece);
        field.length += piece.length + 1;
      }
      continue;
    }
    finish();
    const match = FIELD_NAME.exec(line.length > 200 ? line.slice(0, 200) : line);
    if (!match) continue;
    const value = line.slice(match[0].length, match[0].length + MAX_FIELD_CHARS);
    field = { name: match[1]!.toLowerCase(), parts: [value], length: value.length };
  }
  finish();
  if (block.length > 0) yield block;
}

/** "rfc822; <User@Example.COM>" -> "User@example.com"; RFC 6533's "utf-8;" addresses have their \x{HEX} escapes decoded. */
function address(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const typed = /^\s*([A-Za-z0-9][\w.+-]*)\s*;/.exec(value);
  let text = withoutComments(typed ? value.slice(typed[0].length) : value).trim();
  if (text.startsWith('<') && text.endsWith('>')) text = text.slice(1, -1).trim();
  if (typed?.[1]?.toLowerCase() === 'utf-8') text = text.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (m, hex: string) => codePoint(hex) ?? m);
  if (!text) return undefined;
  const at = text.lastIndexOf('@');
  return at > 0 ? text.slice(0, at) + text.slice(at).toLowerCase() : text;
}

function codePoint(hex: string): string | undefined {
  const n = Number.parseInt(hex, 16);
  return n <= 0x10ffff ? String.fromCodePoint(n) : undefined;
}

/** The value after its "type;" prefix ("smtp;", "dns;", "X-Postfix;"), when it has one. */
function withoutType(value: string): string {
  const typed = /^\s*[A-Za-z0-9][\w.+-]*\s*;/.exec(value);
  return (typed ? value.slice(typed[0].length) : value).trim();
}

function withoutComments(value: string): string {
  return value.replace(/\([^()]*\)/g, ' ');
}

function statusCode(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /(?:^|[^\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/.exec(withoutComments(value));
  return m ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : undefined;
}

function action(value: string | undefined, status: string | undefined): string {
  const word = withoutComments(value ?? '')
    .trim()
    .toLowerCase()
    .split(/\s+/)[0];
  if (word) return word;
  return status?.startsWith('5') ? 'failed' : status?.startsWith('4') ? 'delayed' : status?.startsWith('2') ? 'delivered' : 'unknown';
}

function date(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value.trim());
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function topReportType(mail: ParsedMail): string | undefined {
  const contentType = mail.headers?.get('content-type');
  if (!contentType || typeof contentType !== 'object' || !('value' in contentType) || !('params' in contentType)) return undefined;
  // mailparser's Content-Type is a StructuredHeader; the type guards above don't narrow its union that far.
  const { value, params } = contentType as { value: unknown; params: Record<string, unknown> };
  if (String(value).toLowerCase() !== 'multipart/report') return undefined;
  const reportType = params['report-type'];
  return typeof reportType === 'string' ? reportType.trim().toLowerCase() : undefined;
}

/** Nesting depth from mailparser's IMAP-style part number ("3", "1.2"); 0 when the part is the message itself. */
function depth(part: Attachment): number {
  return part.partId ? part.partId.split('.').length : 0;
}

function parentId(part: Attachment): string {
  const id = part.partId ?? '';
  const dot = id.lastIndexOf('.');
  return dot < 0 ? '' : id.slice(0, dot);
}

function shallowest(parts: Attachment[]): Attachment | undefined {
  let best: Attachment | undefined;
  for (const part of parts) if (!best || depth(part) < depth(best)) best = part;
  return best;
}

function other(reason: string): ParsedReport {
  return { kind: 'other', reason };
}

function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
}
