import { PassThrough, type Readable } from 'node:stream';
import type { SentMessageInfo, Transporter } from 'nodemailer';
import type { SigningMailOptions } from './dkim-sign-message.ts';
import { isPlainAddress } from './plain-address.ts';
import type { MailTransport } from './transport.ts';

/**
 * Composed source straight to nodemailer's SMTP pool. Every mail whose parts are in memory
 * reaches the transport composed and signed already (compose-message.ts), yet nodemailer's
 * sendMail still compiles it into a MIME node (parsing its envelope's addresses again) and streams
 * it through a pipeline of its own (a PassThrough, a transform, and an AbortController that
 * pipeline aborts, with a stack trace, when it ends): 8-10 % of the service's CPU in bench:send's
 * profile, for bytes it passes on unchanged. So such a mail goes to the pool (SMTPPool.send)
 * as the one-chunk stream of its bytes, with its envelope as given, when nodemailer would have
 * normalised nothing in it: one recipient, both addresses plain (isPlainAddress). Any other
 * message takes nodemailer's sendMail, as before. The pool reads of a message only what
 * PoolMessage has and three options it leaves unset here (nodemailer 10: smtp-pool/index.js and
 * pool-resource.js; test/integration/raw-pool-send.test.ts fails when it reads more); the pool's
 * own queueing, requeue after a dropped connection and errors are unchanged.
 */

/** What nodemailer's pool reads of the message it is given. */
interface PoolMessage {
  getEnvelope(): { from: string; to: string[] };
  messageId(): string;
  getHeader(key: string): string | undefined;
  createReadStream(): Readable;
}

interface PoolTransport {
  send(mail: { data: Record<string, unknown>; message: PoolMessage }, callback: (err: Error | null, info?: SentMessageInfo) => void): void;
}

/** The envelope of a message the pool can take as it is; undefined when nodemailer's sendMail must compile it. */
function plainEnvelope(message: SigningMailOptions): { from: string; to: string } | undefined {
  if (!Buffer.isBuffer(message.raw) || message.dkimSigning || !message.envelope) return undefined;
  // cc, bcc, size, dsn ... in the envelope: nodemailer's to read them
  if (Object.keys(message.envelope).some((k) => k !== 'from' && k !== 'to')) return undefined;
  const { from, to } = message.envelope as { from?: unknown; to?: unknown };
  const recipient = Array.isArray(to) && to.length === 1 ? to[0] : undefined;
  if (typeof from !== 'string' || typeof recipient !== 'string') return undefined;
  if (!isPlainAddress(from) || !isPlainAddress(recipient)) return undefined;
  const rest = Object.keys(message).filter((k) => k !== 'raw' && k !== 'envelope' && k !== 'messageId');
  return rest.length === 0 ? { from, to: recipient } : undefined;
}

/** The relay's pooled transport, handing composed source with a plain envelope to its pool directly. */
export function rawPoolSend(transporter: Transporter): MailTransport {
  const pool = (transporter as unknown as { transporter: PoolTransport & { name?: string } }).transporter;
  // another transport behind it (or a nodemailer whose pool changed): sendMail for everything
  if (pool?.name !== 'SMTP (pool)' || typeof pool.send !== 'function') return transporter;
  return {
    sendMail(message: SigningMailOptions): Promise<SentMessageInfo> {
      const envelope = plainEnvelope(message);
      if (!envelope) return transporter.sendMail(message);
      const raw = message.raw as Buffer;
      const messageId = typeof message.messageId === 'string' ? message.messageId : '';
      const poolMessage: PoolMessage = {
        // a new object each time: the pool adds to it (dsn) and may send the message twice (requeue)
        getEnvelope: () => ({ from: envelope.from, to: [envelope.to] }),
        messageId: () => messageId,
        getHeader: (key) => (key.toLowerCase() === 'message-id' ? messageId : undefined),
        createReadStream: () => {
          const stream = new PassThrough();
          stream.end(raw);
          return stream;
        },
      };
      return new Promise((resolve, reject) => {
        pool.send({ data: {}, message: poolMessage }, (err, info) => (err ? reject(err) : resolve(info as SentMessageInfo)));
      });
    },
    verify: () => transporter.verify(),
    close: () => transporter.close(),
  };
}
