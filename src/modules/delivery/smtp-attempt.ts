import type { SendMailOptions, SentMessageInfo } from 'nodemailer';
import type { MailTransport } from './transport.ts';
import type { SendResult } from './apply-send-result.ts';
import { isBlankHtml } from './blank-body.ts';
import { buildMessage, type MailRecipient } from './build-message.ts';
import type { SmtpOutcomeInput } from './classify-smtp-reply.ts';
import { sourceNow, sourceOf } from './compose-message.ts';
import type { SigningMailOptions } from './dkim-sign-message.ts';
import type { RequestContext } from './request-context.ts';

function errorInput(err: unknown): SmtpOutcomeInput {
  const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
  return { responseCode: e.responseCode, response: e.response, errorCode: e.code, message: e.message };
}

type TransportInfo = SentMessageInfo & {
  rejectedErrors?: { recipient?: string; responseCode?: number; response?: string; code?: string; message?: string }[];
};

/** One transaction's outcome as a SendResult: refusals at RCPT are per recipient; an error with none is the whole attempt's. */
async function sendOnce(transport: MailTransport, message: SigningMailOptions): Promise<SendResult> {
  try {
    const info = (await transport.sendMail(message)) as TransportInfo;
    const rejected = (info.rejectedErrors ?? []).map((e) => ({ address: e.recipient ?? '', error: errorInput(e) }));
    return { kind: 'sent', response: String(info.response ?? ''), rejected };
  } catch (err) {
    const e = err as { rejectedErrors?: { recipient?: string }[] };
    // All recipients refused at RCPT: each has its own reply.
    if (Array.isArray(e.rejectedErrors) && e.rejectedErrors.length) {
      return { kind: 'sent', response: '', rejected: e.rejectedErrors.map((x) => ({ address: x.recipient ?? '', error: errorInput(x) })) };
    }
    return { kind: 'failed', error: errorInput(err) };
  }
}

/**
 * The same bytes in one transaction per recipient, each from its own return path (VERP: a bounce
 * then names its recipient, and no recipient holds a token that speaks for another). Each
 * recipient's failure is its own; only when every transaction failed without a reply (the relay
 * can't be reached) is it the attempt's.
 */
async function sendPerRecipient(
  transport: MailTransport,
  source: SendMailOptions,
  pending: MailRecipient[],
  returnPathOf: (r: MailRecipient) => string,
): Promise<SendResult> {
  const { raw, messageId } = source;
  const results = await Promise.all(pending.map((r) => sendOnce(transport, { envelope: { from: returnPathOf(r), to: [r.address] }, raw, messageId })));
  const failures = results.flatMap((x) => (x.kind === 'failed' ? [x] : []));
  if (failures.length === results.length) return failures[0]!;
  const sent = results.flatMap((x) => (x.kind === 'sent' ? [x] : []));
  return {
    kind: 'sent',
    response: sent.find((x) => x.rejected.length === 0)?.response ?? sent[0]?.response ?? '',
    rejected: results.flatMap((x, i) => (x.kind === 'sent' ? x.rejected : x.kind === 'failed' ? [{ address: pending[i]!.address, error: x.error }] : [])),
  };
}

/**
 * Builds one mail and hands it to the transport; every outcome (content error, refusals, failure)
 * comes back as a SendResult. With `returnPathOf` (BOUNCE_DOMAIN), each pending recipient's
 * envelope sender is its own VERP return path: a mail to several recipients goes out as one
 * transaction per recipient.
 */
export async function attempt(
  transport: MailTransport,
  ctx: RequestContext,
  recipients: MailRecipient[],
  unsubscribeUrl: string | undefined,
  returnPathOf?: (r: MailRecipient) => string,
): Promise<SendResult> {
  const pending = recipients.filter((r) => r.pending);
  const single = returnPathOf && pending.length === 1 ? returnPathOf(pending[0]!) : undefined;
  let built;
  try {
    built = buildMessage(ctx, recipients, unsubscribeUrl, single);
  } catch (err) {
    return { kind: 'content', resultCode: 'MIME_MESSAGE_CREATE_FAIL', message: String((err as Error).message) };
  }
  if (!built.ok) return { kind: 'content', resultCode: 'CONTENT_HAS_TAG_FORM', message: `no value for tag \${${built.missingTag}}` };
  if (typeof built.message.html === 'string' && isBlankHtml(built.message.html)) {
    return { kind: 'content', resultCode: 'EMPTY_BODY_CONTENT', message: 'the body renders empty (no text or image after substitution)' };
  }
  const perRecipient = returnPathOf !== undefined && pending.length > 1;
  const message: SigningMailOptions = ctx.dkim ? { ...built.message, dkimSigning: ctx.dkim } : built.message;
  // Composed (and signed) here when every part is in memory: nodemailer's streaming composer
  // cost more CPU than the rest of a mail's sending (compose-message.ts). A stored attachment
  // leaves the message to the transport, which streams it. An error composing or signing is the
  // attempt's, as it was when the transport composed.
  let source: SendMailOptions | undefined;
  try {
    source = perRecipient ? await sourceOf(message) : await sourceNow(message);
  } catch (err) {
    return { kind: 'failed', error: errorInput(err) };
  }
  if (!perRecipient) return sendOnce(transport, source ?? message);
  // one transaction per recipient: composed and signed once, the same bytes to each
  return sendPerRecipient(transport, source!, pending, returnPathOf);
}
