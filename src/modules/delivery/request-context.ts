import type { KeyObject } from 'node:crypto';
import type { DeliveryRequestRow } from './delivery.repository.ts';
import { compile } from 'html-to-text';
import { LRUCache } from 'lru-cache';
import { compileTemplate, type CompiledTemplate } from '../../shared/render-tags.ts';
import type { DeliveryAttachment } from '../files/files.service.ts';
import { placeUnsubscribeMessage } from '../unsubscribes/unsubscribe-message.ts';

/** What every mail of a request shares, compiled once per request and process. */
export interface RequestContext {
  requestId: string;
  projectId: string;
  senderAddress: string;
  senderName: string | null;
  individual: boolean;
  advertising: boolean;
  parameters: Record<string, unknown> | null;
  referencesHeader: string | null;
  title: CompiledTemplate;
  html: CompiledTemplate;
  /** the text/plain alternative, converted from the HTML body once; tags survive conversion */
  text: CompiledTemplate;
  /** attached to every mail, streamed from a local file each time (never copied per mail; a remote store's copy is fetched once) */
  attachments: DeliveryAttachment[];
  /**
   * advertising mail: the unsubscribe notice, rendered per recipient and put at
   * #{UNSUBSCRIBE_MESSAGE} (the body gets that tag at its end when it has none); null otherwise
   */
  unsubscribe: { html: CompiledTemplate; text: CompiledTemplate } | null;
  /**
   * each mail carries its recipient's own unsubscribe link (#{UNSUBSCRIBE_URL}) and the
   * List-Unsubscribe headers: advertising mail, and any individual mail whose title or body
   * uses the link (the guide's example 1 is such a non-advertising mail)
   */
  unsubscribeLink: boolean;
  /** a test mail: its sent recipient is recorded as TEST_MAIL_SEND instead of MAIL_SENT */
  testMail: boolean;
  /** the sender's domain is verified for the project: every mail is DKIM-signed with this key */
  dkim: DkimSigning | null;
}

/** A sender domain's signing key, decrypted (sender-domains' signingKeysFor). */
export interface DkimSigning {
  domainName: string;
  keySelector: string;
  algorithm: string;
  privateKey: KeyObject;
}

// Built once: convert() would rebuild its formatter on every call (0.6 ms against 0.16 ms).
const toText = compile({ wordwrap: 78, selectors: [{ selector: 'img', format: 'skip' }] });

export function htmlToText(html: string): string {
  return toText(html);
}

// html-to-text drops hrefs that start with "#" (in-page anchors), which would drop the
// unsubscribe link of `<a href="#{UNSUBSCRIBE_URL}">` from the text part: it converts a stand-in.
const URL_TAG = '#{UNSUBSCRIBE_URL}';
const URL_STAND_IN = 'x-unsubscribe-url:tag';

function convertTemplate(html: string): string {
  if (!html.includes(URL_TAG)) return toText(html);
  return toText(html.replaceAll(URL_TAG, URL_STAND_IN)).replaceAll(URL_STAND_IN, URL_TAG);
}

/** Characters (HTML and text) the conversions kept for reuse may hold, in all (a few MB; 2 bytes a character at most). */
const TEXT_CACHE_CHARS = 4_000_000;

/** A conversion that keeps its results; `has` tells whether it holds one for `html` now. */
export type RememberedConversion = ((html: string) => string) & { has(html: string): boolean };

/**
 * `convert`, remembering its results for the HTML seen lately, by the HTML itself, up to
 * `maxChars` characters of HTML and text in all; one whose HTML and text together exceed an
 * eighth of that is converted every time. html-to-text parses the whole document (the
 * conversion alone: 65-110 µs for the send benchmark's 2 KB body, 0.9-1.3 ms for a 30 KB one)
 * every time a request's context is built, while a stream of small requests sends the same
 * template (or unsubscribe notice) again and again.
 */
export function rememberedConversions(convert: (html: string) => string, maxChars: number): RememberedConversion {
  const seen = new LRUCache<string, string>({
    maxSize: maxChars,
    maxEntrySize: Math.max(1, Math.floor(maxChars / 8)),
    sizeCalculation: (text, html) => Math.max(1, text.length + html.length),
  });
  const remembered = (html: string) => {
    let text = seen.get(html);
    if (text === undefined) {
      text = convert(html);
      seen.set(html, text);
    }
    return text;
  };
  return Object.assign(remembered, { has: (html: string) => seen.has(html) });
}

/** The text/plain alternative of an HTML template: tags survive conversion, link targets included. */
export const templateToText = rememberedConversions(convertTemplate, TEXT_CACHE_CHARS);

export function buildRequestContext(
  row: Omit<DeliveryRequestRow, 'use_basic_unsubscribe_msg' | 'unsubscribe_message' | 'test_mail'> & { test_mail?: boolean },
  attachments: DeliveryAttachment[] = [],
  unsubscribeMessage: string | null = null,
  dkim: DkimSigning | null = null,
): RequestContext {
  // Advertising mail is individual-only (validated), so each mail has the one recipient its link names.
  const ad = row.advertising && row.individual && unsubscribeMessage !== null;
  const body = ad ? placeUnsubscribeMessage(row.body) : row.body;
  const title = compileTemplate(row.title);
  const html = compileTemplate(body);
  const usesLink = (tpl: CompiledTemplate) => tpl.metaTags.includes('UNSUBSCRIBE_URL');
  return {
    requestId: row.id,
    projectId: row.project_id,
    senderAddress: row.sender_address,
    senderName: row.sender_name,
    individual: row.individual,
    advertising: row.advertising,
    parameters: (row.parameters as Record<string, unknown> | null) ?? null,
    referencesHeader: row.references_header,
    title,
    html,
    text: compileTemplate(templateToText(body)),
    attachments,
    unsubscribe: ad ? { html: compileTemplate(unsubscribeMessage), text: compileTemplate(templateToText(unsubscribeMessage)) } : null,
    unsubscribeLink: ad || (row.individual && (usesLink(title) || usesLink(html))),
    testMail: row.test_mail ?? false,
    dkim,
  };
}
