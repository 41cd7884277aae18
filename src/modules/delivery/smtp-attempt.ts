import type { SendMailOptions, SentMessageInfo } from 'nodemailer';
import type { MailTransport } from './transport.ts';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SendResult } from './apply-send-result.ts';
import { isBlankHtml } from './blank-body.ts';
import { buildMessage, DKIM_SIGNED_HEADERS, type MailRecipient } from './build-message.ts';
import type { SmtpOutcomeInput } from './classify-smtp-reply.ts';
import { dkimSignature } from './dkim-signature.ts';
import type { DkimSigning, RequestContext } from './request-context.ts';

function errorInput(err: unknown): SmtpOutcomeInput {
  const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
  return { responseCode: e.responseCode, response: e.response, errorCode: e.code, message: e.message };
}

/**
 * CRLF line ends, as the transport sends them and the signature must cover them. nodemailer
 * writes CRLF already: the buffer is checked (a native scan per line) and copied only when a bare
 * LF is found.
 */
export function crlf(raw: Buffer): Buffer {
  for (let i = raw.indexOf(0x0a); i >= 0; i = raw.indexOf(0x0a, i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  }
  return raw;
}

/** The message composed, with its DKIM-Signature in front, as raw source for the transport. */
async function signed(message: SendMailOptions, dkim: DkimSigning): Promise<SendMailOptions> {
  const raw = crlf(await new MailComposer(message).compile().build());
  const header = await dkimSignature(raw, { ...dkim, headerFieldNames: DKIM_SIGNED_HEADERS });
  return { envelope: message.envelope, raw: Buffer.concat([Buffer.from(header, 'latin1'), raw]) };
}

type TransportInfo = SentMessageInfo & {
  rejectedErrors?: { recipient?: string; responseCode?: number; response?: string; code?: string; message?: string }[];
};

/** One transaction's outcome as a SendResult: refusals at RCPT are per recipient; an error with none is the whole attempt's. */
async function sendOnce(transport: MailTransport, message: SendMailOptions): Promise<SendResult> {
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
  message: SendMailOptions,
  pending: MailRecipient[],
  returnPathOf: (r: MailRecipient) => string,
): Promise<SendResult> {
  const raw = message.raw ?? (await new MailComposer(message).compile().build());
  const results = await Promise.all(pending.map((r) => sendOnce(transport, { envelope: { from: returnPathOf(r), to: [r.address] }, raw })));
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
  let message: SendMailOptions;
  try {
    message = ctx.dkim ? await signed(built.message, ctx.dkim) : built.message;
  } catch (err) {
    return { kind: 'failed', error: errorInput(err) };
  }
  if (returnPathOf && pending.length > 1) return sendPerRecipient(transport, message, pending, returnPathOf);
  return sendOnce(transport, message);
}
