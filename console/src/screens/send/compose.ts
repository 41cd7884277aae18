import { BLOCKED_EXTENSIONS as SERVICE_BLOCKED, blockedExtension } from '../../../../src/modules/files/blocked-extensions.ts';
import { FILE_LIMITS, MB } from '../../../../src/modules/files/file-limits.ts';
import { LIMITS as MAIL_LIMITS } from '../../../../src/shared/mail-limits.ts';

/**
 * The send screen's pure rules: limits (the same as the service's: src/modules/files,
 * src/shared/mail-limits.ts), tag collection, address splitting, TEXT → HTML.
 */

/** Attachment limits and blocked extensions: the service's own definitions, not copies. */
export const ATTACH = {
  fileBytes: FILE_LIMITS.fileBytes,
  mailBytes: FILE_LIMITS.mailBytes,
  fileMb: FILE_LIMITS.fileBytes / MB,
  mailMb: FILE_LIMITS.mailBytes / MB,
} as const;
export const BLOCKED_EXTENSIONS: readonly string[] = [...SERVICE_BLOCKED];
export { blockedExtension };

/** The guide's recipient limits per bulk mode (general mode's and the reservation's are the service's). */
export const LIMITS = {
  individual: 1000,
  to: MAIL_LIMITS.generalR,
  cc: MAIL_LIMITS.generalC,
  bcc: MAIL_LIMITS.generalB,
  groups: 5,
  reservationDays: MAIL_LIMITS.reservationDays,
} as const;

export function formatSize(bytes: number): string {
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

/** Every `${NAME}` user tag of the texts, once each, in order of appearance (the service's rule: any name without `}`). */
export function collectTags(...texts: string[]): string[] {
  const seen = new Set<string>();
  for (const text of texts) {
    for (const match of text.matchAll(/\$\{([^}]+)\}/g)) {
      const name = match[1]!;
      seen.add(name);
    }
  }
  return [...seen];
}

/** Every `#{NAME}` meta tag of the texts. */
export function collectMetaTags(...texts: string[]): string[] {
  const seen = new Set<string>();
  for (const text of texts) for (const match of text.matchAll(/#\{([^}]+)\}/g)) seen.add(match[1]!);
  return [...seen];
}

/** Bulk entry: addresses split on Tab, space, Enter and `;` (the guide), commas too. */
export function splitAddresses(text: string): string[] {
  return text
    .split(/[\s;,]+/u)
    .map((a) => a.trim())
    .filter((a) => a !== '');
}

/** A plausible e-mail address (the service checks it fully). */
export function isEmail(address: string): boolean {
  return /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/u.test(address);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** TEXT style: the API takes HTML, so the text is escaped and its line breaks become <br>. */
export function textToHtml(text: string): string {
  return escapeHtml(text).replace(/\r\n|\r|\n/g, '<br>\n');
}

/** The text of an HTML body (switching from Editor/HTML to TEXT): blocks and <br> become line breaks. */
export function htmlToText(html: string): string {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  for (const br of Array.from(doc.querySelectorAll('br'))) br.replaceWith('\n');
  for (const block of Array.from(doc.querySelectorAll('p, div, li, h1, h2, h3, h4, h5, h6, tr'))) block.append('\n');
  return (doc.body.textContent ?? '').replace(/\n{3,}/g, '\n\n').replace(/\n+$/, '');
}

/** datetime-local value → epoch ms in the browser's time zone. */
export function localToUtc(value: string): number | undefined {
  if (!value) return undefined;
  const at = new Date(value).getTime();
  return Number.isNaN(at) ? undefined : at;
}

/** epoch ms → the value of a datetime-local input (local time, minutes). */
export function utcToLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The reservation's problem, if any: not chosen, past, or more than 30 days ahead. */
export function reservationProblem(value: string, now: number): 'required' | 'past' | 'tooFar' | undefined {
  const at = localToUtc(value);
  if (at === undefined) return 'required';
  if (at <= now) return 'past';
  if (at > now + LIMITS.reservationDays * 86_400_000) return 'tooFar';
  return undefined;
}

/**
 * Which field of the form an API error names: "recipients[3].address" → "recipients",
 * "parameters.NAME" → "parameters", "reservationUtc" → "reservation".
 */
export function formFieldOf(apiField: string | undefined): string | undefined {
  if (!apiField) return undefined;
  const head = apiField.split(/[.[]/)[0]!;
  if (head === 'reservationUtc' || head === 'reservationDateTime') return 'reservation';
  if (head === 'recipientGroupFilter') return 'groups';
  if (head === 'recipientFileId') return 'recipientFile';
  if (head === 'useBasicUnsubscribeMsg') return 'unsubscribeMessage';
  if (head === 'fileList') return 'attachFileIds';
  return head;
}
