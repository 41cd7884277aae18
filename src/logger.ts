import pino, { type Logger } from 'pino';

export type { Logger };

/** One root logger; modules take child loggers bound to requestId/mailId/jobId. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'outbound-mailer' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'secret',
        'secretKey',
        '*.secret',
        '*.secretKey',
        'secretAccessKey',
        '*.secretAccessKey',
        '*.*.secretAccessKey',
        'req.headers["x-ncp-apigw-signature-v2"]',
        'req.headers["x-ncp-apigw-signature-v1"]',
        'smtpUrl',
        'databaseUrl',
      ],
      censor: '[redacted]',
    },
  });
}

/** postgres://user:secret@host/db -> postgres://user:***@host/db, for start-up logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}

/** https://user:secret@host/ -> https://host/: for a URL whose user name is a secret too (an S3 endpoint's access key). */
export function withoutUserinfo(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
