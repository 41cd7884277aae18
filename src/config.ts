import { isIP } from 'node:net';
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
  /** bytes of large JSON bodies parsed and processed at once; more wait their turn (src/http/body-budget.ts) */
  bodyBudgetBytes: number;
  /** how long a large body waits for its turn before 429 with Retry-After */
  bodyBudgetWaitMs: number;
  /** signed requests per second per access key (token bucket, per instance); 0: no limit */
  rateLimitPerSecond: number;
  /** bucket size: requests a key may send at once after being idle */
  rateLimitBurst: number;
  /** Express `trust proxy`: false (the peer is the client), true, a hop count, or addresses/CIDRs/loopback|linklocal|uniquelocal */
  trustProxy: boolean | number | string[];
  /** exports waiting or being built per project; more answer 429 */
  maxQueuedExports: number;
  /** uploads (files of POST /files) a project may keep stored; more answer 429 */
  maxStoredFiles: number;
  /** recipient files a project may keep stored; more answer 429 */
  maxStoredRecipientFiles: number;
  /** serve Prometheus metrics at /metrics (METRICS_ENABLED, default on) */
  metricsEnabled: boolean;
  /** undefined: /metrics on the service's port; else a listener of its own on this port */
  metricsPort: number | undefined;
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

function boolVar(env: Env, name: string, def: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
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

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** TRUST_PROXY as Express's `trust proxy` takes it; checked here so a typo fails at start, not per request. */
function trustProxyVar(env: Env): boolean | number | string[] {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const items = raw.split(',').map((x) => x.trim()).filter(Boolean);
  for (const item of items) {
    const [addr, bits, ...rest] = item.split('/');
    const ok = PROXY_NAMES.includes(item) || (rest.length === 0 && isIP(addr!) !== 0 && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (isIP(addr!) === 4 ? 32 : 128))));
    if (!ok) throw new ConfigError(`TRUST_PROXY: "${item}" is not an IP address, a CIDR range or one of ${PROXY_NAMES.join(', ')} (or use true, false or a hop count)`);
  }
  return items;
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
  const maxBodyBytes = intVar(env, 'MAX_BODY_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024);
  const rateLimitPerSecond = intVar(env, 'RATE_LIMIT_PER_SECOND', 1000, 0, 1_000_000);
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
    maxBodyBytes,
    retentionDays: intVar(env, 'RETENTION_DAYS', 0, 0, 36_500),
    bodyBudgetBytes: intVar(env, 'BODY_BUDGET_BYTES', maxBodyBytes, 1024, 4 * 1024 * 1024 * 1024),
    bodyBudgetWaitMs: intVar(env, 'BODY_BUDGET_WAIT_MS', 60_000, 0, 600_000),
    rateLimitPerSecond,
    rateLimitBurst: intVar(env, 'RATE_LIMIT_BURST', Math.max(1, rateLimitPerSecond * 2), 1, 10_000_000),
    trustProxy: trustProxyVar(env),
    maxQueuedExports: intVar(env, 'MAX_QUEUED_EXPORTS', 10, 1, 10_000),
    maxStoredFiles: intVar(env, 'MAX_STORED_FILES', 1_000, 1, 1_000_000),
    maxStoredRecipientFiles: intVar(env, 'MAX_STORED_RECIPIENT_FILES', 100, 1, 100_000),
    metricsEnabled: boolVar(env, 'METRICS_ENABLED', true),
    metricsPort: env.METRICS_PORT ? intVar(env, 'METRICS_PORT', 0, 1, 65535) : undefined,
  });
}
