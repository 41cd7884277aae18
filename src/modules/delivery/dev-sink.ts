// Built-in development SMTP sink, used when no SMTP_URL is configured.
//
// A real SMTP server on 127.0.0.1: delivery still goes through a full SMTP
// conversation, and every accepted message is stored as an .eml file under the
// outbox directory (DATA_DIR/outbox/). Each message is streamed to a hidden temp
// file in the same directory and renamed into place once fully written and
// flushed, so a reader never sees a half-written .eml.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SMTPServer } from 'smtp-server';
import { summariseMessageFile } from './outbox-summary.ts';
import { listenSmtp, SMTP_CLOSE_TIMEOUT_MS, smtpError } from '../../shared/smtp-listener.ts';
import type { SMTPServerDataStream, SMTPServerError, SMTPServerSession } from 'smtp-server';

export interface DevSink {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface DevSinkLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  debug?(o: object, msg?: string): void;
}

export interface DevSinkOptions {
  outboxDir: string;
  /** 0 (default) = ephemeral port */
  port?: number;
  logger?: DevSinkLogger;
}

const HOST = '127.0.0.1';
const MAX_MESSAGE_SIZE = 30 * 1024 * 1024;

/** 2024-05-01T12:34:56.789Z -> 2024-05-01T12-34-56-789Z (sorts chronologically, safe on every filesystem) */
function fileTimestamp(date: Date): string {
  return date.toISOString().replace(/[:.]/g, '-');
}

export async function startDevSink(opts: DevSinkOptions): Promise<DevSink> {
  const outboxDir = path.resolve(opts.outboxDir);
  const logger = opts.logger;
  await mkdir(outboxDir, { recursive: true });

  async function store(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const receivedAt = new Date();
    const queueId = randomBytes(6).toString('hex');
    const tmpPath = path.join(outboxDir, `.incoming-${queueId}.tmp`);
    const finalName = `${fileTimestamp(receivedAt)}-${queueId}.eml`;
    try {
      // flush: fsync before close, so the renamed file is complete on disk too
      await pipeline(stream, createWriteStream(tmpPath, { flags: 'wx', flush: true }));
      if (stream.sizeExceeded) {
        throw smtpError(552, `5.3.4 message exceeds fixed maximum message size ${MAX_MESSAGE_SIZE}`);
      }
      await rename(tmpPath, path.join(outboxDir, finalName));
    } catch (err) {
      await unlink(tmpPath).catch(() => undefined);
      throw err;
    }
    // One line per message; recipient addresses only at debug (house rule).
    const { subject } = await summariseMessageFile(path.join(outboxDir, finalName)).catch(() => ({ subject: '' }));
    logger?.info(
      {
        file: finalName,
        queueId,
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
        toCount: session.envelope.rcptTo.length,
        subject,
        size: stream.byteLength,
      },
      'dev sink stored message',
    );
    logger?.debug?.({ file: finalName, to: session.envelope.rcptTo.map((r) => r.address) }, 'dev sink message recipients');
    return queueId;
  }

  const server = new SMTPServer({
    banner: 'outbound-mailer dev sink',
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    size: MAX_MESSAGE_SIZE,
    rejectOversized: true,
    disableReverseLookup: true,
    // The sink is for looking at what would be sent: it stores mail even for addresses a real
    // relay would refuse (the console guide's own examples use "naver_.com").
    lenientAddressParsing: true,
    closeTimeout: SMTP_CLOSE_TIMEOUT_MS,
    logger: false,
    onData(stream, session, callback) {
      store(stream, session).then(
        (queueId) => callback(null, `OK: queued as ${queueId}`),
        (err: unknown) => {
          const e = err as SMTPServerError;
          if (!e.responseCode) {
            logger?.warn({ err: e }, 'dev sink failed to store message');
          }
          callback(e.responseCode ? e : smtpError(451, '4.3.0 local error storing message'));
        },
      );
    },
  });

  // An 'error' event without a listener would crash the process (e.g. a client resetting mid-transaction)
  server.on('error', (err) => {
    logger?.warn({ err }, 'dev sink connection error');
  });

  const listener = await listenSmtp(server, HOST, opts.port ?? 0);
  const port = listener.port;
  const url = `smtp://${HOST}:${port}`;
  logger?.info({ url, outboxDir }, 'dev SMTP sink listening');
  return { url, port, close: listener.close };
}
