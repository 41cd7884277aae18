import { Transform, type Readable } from 'node:stream';
import type MailMessage from 'nodemailer/lib/mailer/mail-message';
import { signedStream, type SigningMailOptions } from './dkim-sign-message.ts';

/**
 * Bytes gathered into one write to the connection. nodemailer composes a mail in small pieces
 * (a 3.6 KB HTML and text mail in 9: headers, boundaries, each part), and its SMTP data stream
 * writes each to the socket as it comes; those writes were a fifth of the service's CPU in
 * bench:send's profile. A mail up to this size goes out in one write; a larger one (attachments)
 * in writes of about this size, so no more of it is held than before.
 */
export const GATHER_BYTES = 64 * 1024;

/** The input's pieces passed on in writes of at least GATHER_BYTES, the rest at its end. */
export function gathered(input: Readable, gatherBytes = GATHER_BYTES): Readable {
  const pieces: Buffer[] = [];
  let size = 0;
  const take = (): Buffer => {
    const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
    pieces.length = 0;
    size = 0;
    return whole;
  };
  const output = new Transform({
    transform(piece: Buffer, _encoding, done) {
      // a piece as large as a write on its own (an attachment's) goes as it is, not copied into one
      if (piece.length >= gatherBytes) {
        if (size) this.push(take());
        return done(null, piece);
      }
      pieces.push(piece);
      size += piece.length;
      done(null, size >= gatherBytes ? take() : undefined);
    },
    flush(done) {
      done(null, size ? take() : undefined);
    },
  });
  input.once('error', (err) => output.destroy(err));
  return input.pipe(output);
}

/**
 * nodemailer 'stream' plugin of the relay transport, on what it composes on its way to the
 * connection: a message with `dkimSigning` is signed (read whole, signature in front); any other
 * is gathered into few writes. Signing as it composes saves a second pass over the streamed
 * message (bench/dkim.bench.ts). Source composed beforehand (smtp-attempt.ts composes and signs
 * every mail whose parts are in memory, compose-message.ts) is one piece already and passes as it is.
 */
export function composedStreamPlugin(mail: MailMessage, done: (err?: Error | null) => void): void {
  const dkim = (mail.data as SigningMailOptions).dkimSigning;
  if (dkim || !Buffer.isBuffer(mail.data.raw)) mail.message.processFunc((input: Readable) => (dkim ? signedStream(input, dkim) : gathered(input)));
  done();
}
