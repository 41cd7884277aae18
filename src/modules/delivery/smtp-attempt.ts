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

/** The message composed, with its DKIM-Signature in front, as raw source for the transport. */
async function signed(message: SendMailOptions, dkim: DkimSigning): Promise<SendMailOptions> {
  // CRLF line ends, as the transport sends them
  const raw = Buffer.from((await new MailComposer(message).compile().build()).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  const header = await dkimSignature(raw, { ...dkim, headerFieldNames: DKIM_SIGNED_HEADERS });
  return { envelope: message.envelope, raw: Buffer.concat([Buffer.from(header, 'latin1'), raw]) };
}

/** Builds one mail and hands it to the transport; every outcome (content error, refusals, failure) comes back as a SendResult. */
export async function attempt(
  transport: MailTransport,
  ctx: RequestContext,
  recipients: MailRecipient[],
  unsubscribeUrl: string | undefined,
  returnPath?: string,
): Promise<SendResult> {
  let built;
  try {
    built = buildMessage(ctx, recipients, unsubscribeUrl, returnPath);
  } catch (err) {
    return { kind: 'content', resultCode: 'MIME_MESSAGE_CREATE_FAIL', message: String((err as Error).message) };
  }
  if (!built.ok) return { kind: 'content', resultCode: 'CONTENT_HAS_TAG_FORM', message: `no value for tag \${${built.missingTag}}` };
  if (typeof built.message.html === 'string' && isBlankHtml(built.message.html)) {
    return { kind: 'content', resultCode: 'EMPTY_BODY_CONTENT', message: 'the body renders empty (no text or image after substitution)' };
  }
  try {
    const message = ctx.dkim ? await signed(built.message, ctx.dkim) : built.message;
    const info = (await transport.sendMail(message)) as SentMessageInfo & {
      rejectedErrors?: { recipient?: string; responseCode?: number; response?: string; code?: string; message?: string }[];
      rejected?: (string | { address: string })[];
    };
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
