import type { SendMailOptions } from 'nodemailer';
import { renderTemplate, type RenderValues } from '../../shared/render-tags.ts';
import type { RequestContext } from './request-context.ts';
import { lazyFileStream } from '../files/file-store.ts';
import { LIMITS } from '../../shared/mail-limits.ts';

export interface MailRecipient {
  id: string;
  address: string;
  name: string | null;
  type: string;
  parameters: Record<string, unknown> | null;
  retryCount: number;
  status: string;
  /** still to be delivered in this attempt (general mails retry only the deferred ones) */
  pending: boolean;
}

export type BuiltMessage = { ok: true; message: SendMailOptions; envelopeTo: string[] } | { ok: false; missingTag: string };

/**
 * The nodemailer message of one mail: rendered title, HTML and text, To/Cc headers of the whole
 * mail, and an envelope of only the recipients still pending (from the VERP return path, if any). nodemailer encodes non-ASCII names
 * and subjects (RFC 2047) and makes the Message-ID on the sender's domain. Attachments make it
 * multipart/mixed around the HTML/text alternative.
 */
export function buildMessage(ctx: RequestContext, recipients: MailRecipient[], unsubscribeUrl?: string, returnPath?: string): BuiltMessage {
  const first = recipients[0]!;
  const values: RenderValues = {
    recipientParams: ctx.individual ? first.parameters : null,
    requestParams: ctx.parameters,
    meta: {
      RECIPIENT_NAME: first.name ?? '',
      RECIPIENT_ADDRESS: first.address,
      SENDER_NAME: ctx.senderName ?? '',
      SENDER_ADDRESS: ctx.senderAddress,
    },
  };
  // The recipient's own unsubscribe link (HTML-escaped in the HTML part); advertising mail also
  // gets the notice rendered with it (as HTML in the HTML part, as text in the text part).
  // Mail without a link leaves both tags empty.
  let htmlValues = values;
  let textValues = values;
  if (ctx.unsubscribeLink && unsubscribeUrl) {
    textValues = { ...values, meta: { ...values.meta, UNSUBSCRIBE_URL: unsubscribeUrl } };
    htmlValues = { ...values, meta: { ...values.meta, UNSUBSCRIBE_URL: escapeHtml(unsubscribeUrl) } };
  }
  if (ctx.unsubscribe) {
    const noticeHtml = renderTemplate(ctx.unsubscribe.html, htmlValues);
    if (!noticeHtml.ok) return noticeHtml;
    const noticeText = renderTemplate(ctx.unsubscribe.text, textValues);
    if (!noticeText.ok) return noticeText;
    htmlValues = { ...htmlValues, meta: { ...htmlValues.meta, UNSUBSCRIBE_MESSAGE: noticeHtml.text } };
    textValues = { ...textValues, meta: { ...textValues.meta, UNSUBSCRIBE_MESSAGE: noticeText.text } };
  }
  const subject = renderTemplate(ctx.title, textValues);
  if (!subject.ok) return subject;
  const html = renderTemplate(ctx.html, htmlValues);
  if (!html.ok) return html;
  const text = renderTemplate(ctx.text, textValues);
  if (!text.ok) return text;
  checkRenderedSize(ctx, subject.text, html.text, htmlValues.meta.UNSUBSCRIBE_MESSAGE);
  const addr = (r: MailRecipient) => (r.name ? { name: r.name, address: r.address } : r.address);
  const envelopeTo = recipients.filter((r) => r.pending).map((r) => r.address);
  const message: SendMailOptions = {
    from: ctx.senderName ? { name: ctx.senderName, address: ctx.senderAddress } : ctx.senderAddress,
    // An individual mail is addressed to its one recipient, whatever type the request gave it
    // (the guide: Cc/Bcc are ignored when individual is true).
    to: ctx.individual ? recipients.map(addr) : recipients.filter((r) => r.type === 'R').map(addr),
    cc: ctx.individual ? [] : recipients.filter((r) => r.type === 'C').map(addr),
    subject: subject.text,
    html: html.text,
    text: text.text,
    // The VERP return path when BOUNCE_DOMAIN is set: where bounces of this mail come back.
    envelope: { from: returnPath ?? ctx.senderAddress, to: envelopeTo },
  };
  if (ctx.referencesHeader) message.references = ctx.referencesHeader;
  if (ctx.unsubscribeLink && unsubscribeUrl) {
    // RFC 2369 and RFC 8058: mail clients offer their own unsubscribe button and POST to the link.
    message.headers = { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
  }
  if (ctx.attachments.length) {
    message.attachments = ctx.attachments.map((a) => {
      // Caught by the caller: the mail fails with MIME_MESSAGE_CREATE_FAIL instead of going out without it.
      if (a.path === null) throw new Error(`attachment "${a.fileName}" is no longer stored`);
      // A ready-made part (headers by nodemailer, body stored base64): nothing is encoded per mail.
      return { raw: lazyFileStream(a.path, a.head) };
    });
  }
  return { ok: true, message, envelopeTo };
}

/**
 * The header fields a DKIM signature covers when present (relaxed/relaxed): what a receiver shows
 * or acts on. List-Unsubscribe-Post must be signed for RFC 8058 one-click unsubscribe.
 */
export const DKIM_SIGNED_HEADERS = 'From:To:Cc:Subject:Date:Message-ID:MIME-Version:Content-Type:List-Unsubscribe:List-Unsubscribe-Post';

/** Room in the title for AD_TITLE_PREFIX, which the service adds to advertising mail. */
const AD_PREFIX_ALLOWANCE_BYTES = 100;

/**
 * The request's title and body byte limits hold for what is sent, tags substituted: a tag value the request didn't
 * carry (a recipient file's, a meta tag's) can still make a title or body too large. Such a mail
 * is not sent: the throw is caught by the caller and the recipients fail with
 * MIME_MESSAGE_CREATE_FAIL (the message could not be made within the limits; MAIL_CONTENTS_ERROR
 * is the next hop's verdict on a message it was given).
 */
function checkRenderedSize(ctx: RequestContext, subject: string, html: string, notice: string | null | undefined): void {
  const titleMax = LIMITS.titleBytes + (ctx.advertising ? AD_PREFIX_ALLOWANCE_BYTES : 0);
  const bodyMax = LIMITS.bodyBytes + (notice ? Buffer.byteLength(notice) : 0);
  const titleBytes = Buffer.byteLength(subject);
  if (titleBytes > titleMax) throw new Error(`the title is ${titleBytes} bytes after tag substitution, more than ${LIMITS.titleBytes}`);
  const bodyBytes = Buffer.byteLength(html);
  if (bodyBytes > bodyMax) throw new Error(`the body is ${Math.ceil(bodyBytes / 1024)} KB after tag substitution, more than ${LIMITS.bodyBytes / 1024} KB`);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
