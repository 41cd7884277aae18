import nodemailer, { type Transporter } from 'nodemailer';

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
  return nodemailer.createTransport({
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
}
