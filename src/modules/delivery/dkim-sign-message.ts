import { PassThrough, type Readable } from 'node:stream';
import type { SendMailOptions } from 'nodemailer';
import { DKIM_SIGNED_HEADERS } from './build-message.ts';
import { dkimSignature } from './dkim-signature.ts';
import type { DkimSigning } from './request-context.ts';

/**
 * A message to sign, for a MailTransport: the relay transport's stream plugin (`composedStreamPlugin`, compose-stream.ts)
 * signs what nodemailer composes; the direct transport signs the source it builds once for every host.
 */
export type SigningMailOptions = SendMailOptions & { dkimSigning?: DkimSigning };

/**
 * CRLF line ends, as the transport sends them and the signature must cover them: nodemailer's
 * SMTP data stream turns a bare LF and a bare CR into CRLF after signing, so the signature must
 * be over the same (a text body with a bare CR failed its body hash). nodemailer writes CRLF
 * already: the buffer is checked (a native scan per line end) and copied only when a bare one is found.
 */
export function crlf(raw: Buffer): Buffer {
  for (let i = raw.indexOf(0x0a); i >= 0; i = raw.indexOf(0x0a, i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) return normalised(raw);
  }
  for (let i = raw.indexOf(0x0d); i >= 0; i = raw.indexOf(0x0d, i + 1)) {
    if (raw[i + 1] !== 0x0a) return normalised(raw);
  }
  return raw;
}

function normalised(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

/** A composed message with its DKIM-Signature in front. */
export async function signRaw(composed: Buffer, dkim: DkimSigning): Promise<Buffer> {
  const raw = crlf(composed);
  const header = await dkimSignature(raw, { ...dkim, headerFieldNames: DKIM_SIGNED_HEADERS });
  return Buffer.concat([Buffer.from(header, 'latin1'), raw]);
}

/** The input read whole, then the signature and the input. Errors of the input end the output with them. */
export function signedStream(input: Readable, dkim: DkimSigning): Readable {
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  input.on('data', (chunk: Buffer) => chunks.push(chunk));
  input.once('error', (err) => output.destroy(err));
  input.once('end', () => {
    const composed = Buffer.concat(chunks);
    // the chunks are not kept beside the signed copy while it is sent
    chunks.length = 0;
    signRaw(composed, dkim).then(
      (signed) => output.end(signed),
      (err: Error) => output.destroy(err),
    );
  });
  return output;
}
