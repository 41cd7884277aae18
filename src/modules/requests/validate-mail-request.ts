import { badRequest } from '../../shared/errors.ts';
import { parseZonedDateTime } from '../../shared/clock.ts';
import { compileTemplate, META_TAGS } from '../../shared/render-tags.ts';
import { isValidEmail } from '../../shared/email-address.ts';
import { LIMITS } from '../../shared/mail-limits.ts';
import { validateGroupFilter, type GroupFilter } from '../address-book/group-filter.ts';
import type { RecipientSlices, SplitRecipient } from './split-recipients.ts';
import { renderedSizeCheck } from './check-rendered-sizes.ts';

/**
 * The business rules of createMailRequest that the OpenAPI schema can't say well:
 * conditional requirements, byte limits, address syntax, modes. Pure: takes `now`; throws
 * 400/77102 naming the field and the rule.
 */

export interface MailRequestInput {
  senderAddress?: string | null;
  senderName?: string | null;
  templateSid?: number | null;
  title?: string | null;
  body?: string | null;
  individual?: boolean | null;
  confirmAndSend?: boolean | null;
  advertising?: boolean | null;
  parameters?: Record<string, unknown> | null;
  referencesHeader?: string | null;
  reservationUtc?: number | null;
  reservationDateTime?: string | null;
  attachFileIds?: string[] | null;
  recipients?: RecipientInput[] | null;
  recipientGroupFilter?: unknown;
  useBasicUnsubscribeMsg?: boolean | null;
  unsubscribeMessage?: string | null;
  recipientFileId?: string | null;
  testMail?: boolean | null;
}

export interface RecipientInput {
  address?: string | null;
  name?: string | null;
  type?: string | null;
  parameters?: Record<string, unknown> | null;
}

/**
 * A large body's recipients left as bytes (http/large-json.ts): each is parsed, checked
 * against the spec and returned by at(i), a fresh value every time. `recipients` is then empty.
 */
export interface DeferredRecipientInputs {
  readonly length: number;
  /** their bytes in the body, all together */
  readonly bytes: number;
  at(i: number): RecipientInput;
}

export interface ValidMailRequest {
  senderAddress: string;
  senderName: string | null;
  title: string;
  body: string;
  individual: boolean;
  confirmAndSend: boolean;
  advertising: boolean;
  parameters: Record<string, string> | null;
  referencesHeader: string | null;
  reservationAt: Date | null;
  useBasicUnsubscribeMsg: boolean;
  unsubscribeMessage: string | null;
  /** the recipients given in the body, normalised (empty when deferred) */
  recipients: SplitRecipient[];
  /** deferred recipients instead (individual mail only), valid: their JSON text kept, or parsed again a slice at a time */
  deferredRecipients: RecipientSlices | null;
  /** recipients come from address-book groups (recipients is then empty) */
  groupFilter: GroupFilter | null;
  /** recipients come from an uploaded recipient file (recipients is then empty) */
  recipientFileId: string | null;
  /** a test mail (the console's test send): one recipient, sent at once, recorded as TEST_MAIL_SEND */
  testMail: boolean;
}

/**
 * Deferred recipients are checked one at a time and not kept as objects. Their normalised JSON
 * text is kept for the payload's chunks (requests.repository.ts insertPayload) when the body's
 * recipients take at most this many bytes and the text at most this much memory (a string with
 * a character past U+00FF takes two bytes a character), so that a 100,000-recipient body (13 MB)
 * is not parsed and checked a second time (about 100 ms of a 1.4-1.5 s POST). Else (a 63 MB
 * body's recipients) nothing is kept, or what was is dropped, and each chunk is parsed and
 * checked again. The body budget (http/body-budget.ts) bounds how many such bodies are read at
 * once; the objects of a small body's recipients, parsed whole, take several times their text.
 */
export const KEPT_RECIPIENT_JSON_BYTES = 16 * 1024 * 1024;
const TWO_BYTE = /[\u0100-\uffff]/;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const present = (s: string | null | undefined): s is string => typeof s === 'string' && s !== '';

function normaliseParams(params: Record<string, unknown> | null | undefined, field: string): Record<string, string> | null {
  if (params === null || params === undefined) return null;
  const out: [string, string][] = [];
  const entries = Object.entries(params);
  if (entries.length > LIMITS.parameters) throw badRequest(`${field}: at most ${LIMITS.parameters} parameters (${entries.length} given)`);
  for (const [k, v] of entries) {
    if (k === '' || [...k].length > LIMITS.parameterNameChars)
      throw badRequest(`${field}: parameter names must be 1 to ${LIMITS.parameterNameChars} characters ("${k.slice(0, 40)}${k.length > 40 ? '…' : ''}")`);
    if (v === null || v === undefined) continue;
    if (typeof v === 'object') throw badRequest(`${field}.${k}: must be a string, number or boolean`);
    const value = String(v);
    if (value.length > LIMITS.parameterValueBytes / 3 && bytes(value) > LIMITS.parameterValueBytes)
      throw badRequest(`${field}.${k}: at most ${LIMITS.parameterValueBytes / 1024} KB`);
    out.push([k, value]);
  }
  // fromEntries defines own properties, so even a "__proto__" tag keeps its value.
  return out.length ? Object.fromEntries(out) : null;
}

function parseReservation(input: MailRequestInput, now: Date, timeZone: string): Date | null {
  let at: Date | undefined;
  let field = 'reservationUtc';
  if (input.reservationUtc !== null && input.reservationUtc !== undefined) {
    at = new Date(input.reservationUtc);
  } else if (present(input.reservationDateTime)) {
    field = 'reservationDateTime';
    at = parseZonedDateTime(input.reservationDateTime, timeZone);
    if (!at || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/.test(input.reservationDateTime.trim())) {
      throw badRequest('reservationDateTime: must be "yyyy-MM-dd HH:mm"');
    }
  } else return null;
  if (Number.isNaN(at.getTime())) throw badRequest(`${field}: not a valid time`);
  if (at.getTime() < now.getTime()) throw badRequest(`${field}: the reservation time is in the past`);
  if (at.getTime() > now.getTime() + LIMITS.reservationDays * 86_400_000) {
    throw badRequest(`${field}: the reservation time must be at most ${LIMITS.reservationDays} days ahead`);
  }
  return at;
}

/** One recipient of the body, normalised; throws naming `recipients[i]` and the rule. */
function validRecipient(r: RecipientInput, i: number): SplitRecipient {
  const address = typeof r.address === 'string' ? r.address.trim() : '';
  if (!address) throw badRequest(`recipients[${i}].address: required`);
  if (!isValidEmail(address)) throw badRequest(`recipients[${i}].address: "${address.slice(0, 100)}" is not a valid e-mail address`);
  const name = present(r.name) ? r.name : null;
  if (name && [...name].length > LIMITS.recipientNameChars) throw badRequest(`recipients[${i}].name: at most ${LIMITS.recipientNameChars} characters`);
  const type = r.type || 'R';
  if (type !== 'R' && type !== 'C' && type !== 'B') throw badRequest(`recipients[${i}].type: must be R, C or B`);
  return { address, name, type, parameters: normaliseParams(r.parameters, `recipients[${i}].parameters`) };
}

/**
 * `templateSid` and `attachFileIds` are resolved by the service (they need the database): by the
 * time this runs, a template's sender, title and body have replaced the request's own.
 */
export function validateMailRequest(
  input: MailRequestInput,
  now: Date,
  timeZone: string,
  deferred?: DeferredRecipientInputs,
  keptJsonBytes = KEPT_RECIPIENT_JSON_BYTES,
): ValidMailRequest {
  const groupFilter = input.recipientGroupFilter === null || input.recipientGroupFilter === undefined ? null : validateGroupFilter(input.recipientGroupFilter);
  if (groupFilter && present(input.recipientFileId)) throw badRequest('recipientFileId: not allowed together with recipientGroupFilter');
  // Resolved (project, existence, row count) by the service; here only how it combines with the rest.
  const recipientFileId = present(input.recipientFileId) ? input.recipientFileId.trim() : null;

  const senderAddress = input.senderAddress?.trim();
  if (!present(senderAddress)) throw badRequest('senderAddress: required when templateSid is not given');
  if (!isValidEmail(senderAddress)) throw badRequest('senderAddress: not a valid e-mail address');
  if (input.title === null || input.title === undefined) throw badRequest('title: required when templateSid is not given');
  if (bytes(input.title) > LIMITS.titleBytes) throw badRequest(`title: at most ${LIMITS.titleBytes} bytes`);
  if (!present(input.body)) throw badRequest('body: required when templateSid is not given');
  if (bytes(input.body) > LIMITS.bodyBytes) throw badRequest(`body: at most ${LIMITS.bodyBytes / 1024} KB`);
  const senderName = present(input.senderName) ? input.senderName : null;
  if (senderName && bytes(senderName) > LIMITS.senderNameBytes) throw badRequest(`senderName: at most ${LIMITS.senderNameBytes} bytes`);

  const referencesHeader = present(input.referencesHeader) ? input.referencesHeader.trim() : null;
  if (referencesHeader) {
    if (referencesHeader.length > LIMITS.referencesHeaderChars) throw badRequest(`referencesHeader: at most ${LIMITS.referencesHeaderChars} characters`);
    if (!/^<[^<>@\s]+@[^<>@\s]+>$/.test(referencesHeader)) throw badRequest('referencesHeader: must look like <unique_id@domain.com>');
  }

  const individual = input.individual ?? true;
  const advertising = input.advertising ?? false;
  const useBasicUnsubscribeMsg = input.useBasicUnsubscribeMsg ?? true;
  const unsubscribeMessage = present(input.unsubscribeMessage) ? input.unsubscribeMessage : null;
  if (unsubscribeMessage && bytes(unsubscribeMessage) > LIMITS.unsubscribeMessageBytes)
    throw badRequest(`unsubscribeMessage: at most ${LIMITS.unsubscribeMessageBytes / 1024} KB`);
  if (advertising && !useBasicUnsubscribeMsg && !unsubscribeMessage) {
    throw badRequest('unsubscribeMessage: required when useBasicUnsubscribeMsg is false');
  }
  if (!individual && advertising) throw badRequest('advertising: advertising mail must be sent individually (individual: true)');
  // Meta tags are the guide's listed names only ("指定値のみ使用"): anything else, or another
  // case, would otherwise go out as written.
  const notice = advertising && !useBasicUnsubscribeMsg ? unsubscribeMessage : null;
  for (const [field, text] of [
    ['title', input.title],
    ['body', input.body],
    ['unsubscribeMessage', notice],
  ] as const) {
    if (text === null) continue;
    const tpl = compileTemplate(text);
    const unknown = tpl.unknownMetaTags[0];
    if (unknown !== undefined) throw badRequest(`${field}: unknown meta tag #{${unknown}}; the meta tags are ${META_TAGS.map((t) => `#{${t}}`).join(', ')}`);
    if (!individual && tpl.metaTags[0]) throw badRequest(`${field}: meta tag #{${tpl.metaTags[0]}} can't be used when individual is false`);
  }

  const given = deferred ?? input.recipients;
  const testMail = input.testMail ?? false;
  if (testMail) {
    if (groupFilter || recipientFileId || given?.length !== 1) throw badRequest('testMail: a test mail goes to exactly one address (one entry in recipients)');
    if (input.confirmAndSend || (input.reservationUtc !== null && input.reservationUtc !== undefined) || present(input.reservationDateTime))
      throw badRequest('testMail: a test mail is sent at once (no reservation, no confirmAndSend)');
  }
  if (groupFilter) {
    if (!individual) throw badRequest('recipientGroupFilter: address-book groups are sent individually (individual: true)');
    if (given?.length) throw badRequest('recipients: not allowed together with recipientGroupFilter');
  }
  if (recipientFileId) {
    // A file's rows each carry their own tag values, which one shared To/Cc mail can't.
    if (!individual) throw badRequest('recipientFileId: recipient files are sent individually (individual: true): each row has its own tag values');
    if (given?.length) throw badRequest('recipients: not allowed together with recipientFileId');
  }
  const list = groupFilter || recipientFileId ? [] : given;
  if (!list || (list.length === 0 && !groupFilter && !recipientFileId))
    throw badRequest('recipients: required (at least one recipient) when recipientGroupFilter is not given');
  if (list.length > LIMITS.recipients) throw badRequest(`recipients: at most ${LIMITS.recipients} recipients per request`);
  const parameters = normaliseParams(input.parameters, 'parameters');
  // Each recipient's own tag values, in individual mail; the request's alone in general mail.
  const checkSizes = renderedSizeCheck({ title: input.title, body: input.body, parameters, limits: LIMITS });
  const counts = { R: 0, C: 0, B: 0 };
  // Deferred recipients are checked here one at a time and not kept as objects: their JSON text
  // is, up to keptJsonBytes, else they are parsed again when stored.
  const recipients: SplitRecipient[] = deferred ? [] : new Array(list.length);
  let kept: string[] | null = deferred && deferred.bytes <= keptJsonBytes ? new Array(list.length) : null;
  let keptBytes = 0;
  for (let i = 0; i < list.length; i++) {
    const recipient = validRecipient(list.at(i)!, i);
    // Individual mail: the guide says Cc/Bcc are "ignored" as such; the recipient is still sent
    // to, in a mail of its own addressed to it alone (real clients send R+C+B with the default).
    counts[recipient.type]++;
    if (individual) checkSizes?.(recipient.parameters, `recipients[${i}]`);
    if (!deferred) recipients[i] = recipient;
    else if (kept) {
      const text = JSON.stringify(recipient);
      keptBytes += (text.length + 1) * (TWO_BYTE.test(text) ? 2 : 1);
      if (keptBytes > keptJsonBytes) kept = null;
      else kept[i] = text;
    }
  }
  const keptTexts = kept;
  if (!individual) {
    if (counts.R > LIMITS.generalR) throw badRequest(`recipients: at most ${LIMITS.generalR} type R recipients when individual is false`);
    if (counts.C > LIMITS.generalC) throw badRequest(`recipients: at most ${LIMITS.generalC} Cc (type C) recipients`);
    if (counts.B > LIMITS.generalB) throw badRequest(`recipients: at most ${LIMITS.generalB} Bcc (type B) recipients`);
  }
  // General mail, or recipients from groups or a file (their values are checked as each mail is built).
  if (!individual || list.length === 0) checkSizes?.(null, 'the request');
  const deferredRecipients: RecipientSlices | null = deferred
    ? {
        length: deferred.length,
        slice(from, to) {
          const out: SplitRecipient[] = [];
          for (let i = from; i < Math.min(to, deferred.length); i++) out.push(validRecipient(deferred.at(i), i));
          return out;
        },
        ...(keptTexts && { json: (from: number, to: number) => `[${keptTexts.slice(from, to).join(',')}]` }),
      }
    : null;

  return {
    senderAddress,
    senderName,
    title: input.title,
    body: input.body,
    individual,
    confirmAndSend: input.confirmAndSend ?? false,
    advertising,
    parameters,
    referencesHeader,
    reservationAt: parseReservation(input, now, timeZone),
    useBasicUnsubscribeMsg,
    unsubscribeMessage,
    recipients,
    deferredRecipients,
    groupFilter,
    recipientFileId,
    testMail,
  };
}
