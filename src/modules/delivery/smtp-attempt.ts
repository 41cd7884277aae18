import type { SentMessageInfo, Transporter } from 'nodemailer';
import type { SendResult } from './apply-send-result.ts';
import { isBlankHtml } from './blank-body.ts';
import { buildMessage, type MailRecipient } from './build-message.ts';
import type { SmtpOutcomeInput } from './classify-smtp-reply.ts';
import type { RequestContext } from './request-context.ts';

function errorInput(err: unknown): SmtpOutcomeInput {
  const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
  return { responseCode: e.responseCode, response: e.response, errorCode: e.code, message: e.message };
}

/** Builds one mail and hands it to the transport; every outcome (content error, refusals, failure) comes back as a SendResult. */
export async function attempt(
  transport: Transporter,
  ctx: RequestContext,
  recipients: MailRecipient[],
  unsubscribeUrl: string | undefined,
): Promise<SendResult> {
  let built;
  try {
    built = buildMessage(ctx, recipients, unsubscribeUrl);
  } catch (err) {
    return { kind: 'content', resultCode: 'MIME_MESSAGE_CREATE_FAIL', message: String((err as Error).message) };
  }
  if (!built.ok) return { kind: 'content', resultCode: 'CONTENT_HAS_TAG_FORM', message: `no value for tag \${${built.missingTag}}` };
  if (typeof built.message.html === 'string' && isBlankHtml(built.message.html)) {
    return { kind: 'content', resultCode: 'EMPTY_BODY_CONTENT', message: 'the body renders empty (no text or image after substitution)' };
  }
  try {
    const info = (await transport.sendMail(built.message)) as SentMessageInfo & {
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
