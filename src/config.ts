import path from 'node:path';

/**
 * The service's whole configuration, read from the environment once.
 * Nothing else in the code base reads process.env: pass a Config (or a part of it) instead.
 */
export interface Config {
  port: number;
  /** undefined: start an embedded PostgreSQL under dataDir/pg */
  databaseUrl: string | undefined;
  /** undefined: start the built-in SMTP sink that writes .eml files under dataDir/outbox */
  smtpUrl: string | undefined;
  smtpMaxConnections: number;
  /** connect, greeting and socket timeout of SMTP conversations */
  smtpTimeoutMs: number;
  role: 'api' | 'worker' | 'all';
  publicBaseUrl: string;
  accessKey: string | undefined;
  secretKey: string | undefined;
  /** 32-byte key (hex or base64) that encrypts access-key secrets at rest; default: dataDir/master.key */
  masterKey: string | undefined;
  displayTimezone: string;
  retryLimit: number;
  retryBaseDelayMs: number;
  adTitlePrefix: string;
  dataDir: string;
  logLevel: string;
  /** delivery claim loops a worker process runs at once */
  workerConcurrency: number;
  /** mails a delivery claim loop takes at once */
  deliveryClaimBatch: number;
  /** POST body limit; 100,000 recipients with parameters fit well below it */
  maxBodyBytes: number;
  /** finished requests older than this many days are purged hourly with all their rows; 0 keeps them forever */
  retentionDays: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function urlVar(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => p + '//').join(' or ')}`);
  }
  return raw;
}

function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const role = env.ROLE || 'all';
  if (role !== 'api' && role !== 'worker' && role !== 'all') {
    throw new ConfigError(`ROLE must be api, worker or all, got "${role}"`);
  }
  const displayTimezone = env.DISPLAY_TIMEZONE || 'Asia/Seoul';
  if (!isValidTimezone(displayTimezone)) throw new ConfigError(`DISPLAY_TIMEZONE "${displayTimezone}" is not a known time zone`);
  const accessKey = env.MAILER_ACCESS_KEY || undefined;
  const secretKey = env.MAILER_SECRET_KEY || undefined;
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    throw new ConfigError('MAILER_ACCESS_KEY and MAILER_SECRET_KEY must be set together');
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  const port = intVar(env, 'PORT', 8080, 0, 65535);
  const publicBaseUrl = urlVar(env, 'PUBLIC_BASE_URL', ['http:', 'https:']) ?? `http://localhost:${port}`;
  return Object.freeze({
    port,
    databaseUrl: urlVar(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    smtpUrl: urlVar(env, 'SMTP_URL', ['smtp:', 'smtps:']),
    smtpMaxConnections: intVar(env, 'SMTP_MAX_CONNECTIONS', 4, 1, 100),
    smtpTimeoutMs: intVar(env, 'SMTP_TIMEOUT_MS', 60_000, 100, 600_000),
    role,
    publicBaseUrl: publicBaseUrl.replace(/\/+$/, ''),
    accessKey,
    secretKey,
    masterKey: env.MASTER_KEY || undefined,
    displayTimezone,
    retryLimit: intVar(env, 'RETRY_LIMIT', 3, 0, 20),
    retryBaseDelayMs: intVar(env, 'RETRY_BASE_DELAY_MS', 60000, 0, 86_400_000),
    adTitlePrefix: env.AD_TITLE_PREFIX ?? '(광고)',
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    logLevel,
    workerConcurrency: intVar(env, 'WORKER_CONCURRENCY', 4, 1, 64),
    deliveryClaimBatch: intVar(env, 'DELIVERY_CLAIM_BATCH', 50, 1, 1_000),
    maxBodyBytes: intVar(env, 'MAX_BODY_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    retentionDays: intVar(env, 'RETENTION_DAYS', 0, 0, 36_500),
  });
}
