import nodemailer, { type SentMessageInfo, type Transporter } from 'nodemailer';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { createDirectTransport } from './direct-transport.ts';
import { composedStreamPlugin } from './compose-stream.ts';
import { rawPoolSend } from './raw-pool-send.ts';
import type { SigningMailOptions } from './dkim-sign-message.ts';

/**
 * What delivery needs of a transport: nodemailer's promise API. A relay's pooled transport is one;
 * the direct transport (SMTP_URL=direct) is another, with the same results and errors.
 */
export interface MailTransport {
  /** signs a message that carries `dkimSigning` (dkim-sign-message.ts), once, over the bytes it sends */
  sendMail(message: SigningMailOptions): Promise<SentMessageInfo>;
  /** can mail be handed over at all (the relay answers); direct mode has no relay and says true */
  verify(): Promise<true>;
  close(): void;
}

export interface TransportOptions {
  url: string;
  maxConnections: number;
  timeoutMs: number;
}

/**
 * One pooled SMTP transport per process. The pool keeps up to maxConnections open and queues
 * messages beyond that; callers bound how many they hand it at once.
 */
export function createTransport(opts: TransportOptions): Transporter {
  const u = new URL(opts.url);
  const secure = u.protocol === 'smtps:';
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: opts.maxConnections,
    maxMessages: Infinity,
    // The pool re-sends a message itself after a dropped connection; once is enough to ride out
    // a relay closing an idle connection. Beyond that our own retries with backoff decide, and
    // one attempt can't take six SMTP timeouts.
    maxRequeues: 1,
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs,
    // Loopback relays (the dev sink) offer no TLS; remote ones negotiate STARTTLS when offered.
    ignoreTLS: u.hostname === '127.0.0.1' || u.hostname === 'localhost',
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  // signs, or gathers into few writes, as it composes (compose-stream.ts)
  transport.use('stream', composedStreamPlugin);
  return transport;
}

/**
 * The transport the configuration asks for: to each domain's MX hosts for SMTP_URL=direct
 * (SMTP_MAX_CONNECTIONS then bounds the connections per destination host), else the relay at `url`.
 */
export function createConfiguredTransport(
  config: Pick<Config, 'smtpUrl' | 'smtpMaxConnections' | 'directSmtpPort' | 'directHeloName' | 'dnsServers' | 'directAllowPrivate'>,
  opts: { url: string; timeoutMs: number; logger: Logger },
): MailTransport {
  if (config.smtpUrl === 'direct') {
    return createDirectTransport({
      port: config.directSmtpPort,
      heloName: config.directHeloName,
      dnsServers: config.dnsServers,
      allowPrivate: config.directAllowPrivate,
      maxConnectionsPerHost: config.smtpMaxConnections,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
    });
  }
  return rawPoolSend(createTransport({ url: opts.url, maxConnections: config.smtpMaxConnections, timeoutMs: opts.timeoutMs }));
}
