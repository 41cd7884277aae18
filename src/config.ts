import { isIP } from 'node:net';
import { z } from 'zod';
import { parseMasterKey } from './shared/secret-box.ts';
import { normaliseDomain } from './shared/domain-name.ts';
import os from 'node:os';
import {
  DEFAULT_DOMAIN_PER_MINUTE,
  type DomainLimits,
  builtInLimits,
  domainLimitTable,
  MAX_DOMAIN_CONNECTIONS,
  MAX_PER_MINUTE,
  parseDomainOverrides,
} from './modules/delivery/throttle-config.ts';
import path from 'node:path';

/**
 * The service's whole configuration, read from the environment once.
 * Nothing else in the code base reads process.env: pass a Config (or a part of it) instead.
 */
export interface Config {
  port: number;
  /** undefined: start an embedded PostgreSQL under dataDir/pg */
  databaseUrl: string | undefined;
  /**
   * undefined: start the built-in SMTP sink that writes .eml files under dataDir/outbox;
   * 'direct': deliver to each recipient domain's MX hosts; else an smtp: or smtps: relay URL
   */
  smtpUrl: string | undefined;
  smtpMaxConnections: number;
  /** connect, greeting and socket timeout of SMTP conversations */
  smtpTimeoutMs: number;
  /** direct mode: the port of the MX hosts (25; another in tests) */
  directSmtpPort: number;
  /** direct mode: the name this service gives in EHLO */
  directHeloName: string;
  /** direct mode may deliver to MX hosts on loopback, private and link-local addresses (off: SSRF, they count as no host) */
  directAllowPrivate: boolean;
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
  /** parts of a group-filtered or recipient-file request stored at once, each on its own connection */
  storeParallelism: number;
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
  /** console sessions end after this long without a request */
  consoleSessionIdleMinutes: number;
  /** and after this long in any case */
  consoleSessionMaxHours: number;
  /** resolvers for sender-domain checks and direct delivery, as ip or ip:port ([v6]:port); undefined: the system's */
  dnsServers: string[] | undefined;
  /** webhook URLs may reach loopback, link-local, private and unique-local addresses (off: refused, SSRF) */
  webhookAllowPrivate: boolean;
  /** one webhook delivery attempt may take this long (connect to the end of the answer) */
  webhookTimeoutMs: number;
  /** webhook deliveries in flight at once per worker process */
  webhookConcurrency: number;
  /** the first retry of a failed delivery waits this long, then twice as long each time (at most 6 h) */
  webhookRetryBaseMs: number;
  /** a delivery is retried until this long after its event (then failed) */
  webhookRetryWindowMs: number;
  /** an endpoint is disabled after this many failed attempts in a row, spanning at least webhookDisableAfterMs */
  webhookDisableFailures: number;
  webhookDisableAfterMs: number;
  /**
   * VERP return-path domain: each mail's envelope sender is b-<token>@ this domain, whose MX must
   * point at the inbound listener; undefined: the sender's own address, and no bounce is expected
   */
  bounceDomain: string | undefined;
  /** the bounce/complaint listener's port (worker and all roles); undefined: no listener */
  inboundSmtpPort: number | undefined;
  /** the address the listener binds to */
  inboundSmtpHost: string;
  /** the largest report the listener takes (a DSN may carry the whole original message) */
  inboundMaxBytes: number;
  /** where feedback loops send ARF complaints; default fbl@BOUNCE_DOMAIN */
  inboundFblAddress: string | undefined;
  /** delivery limits per destination domain and per project, and the slow-down pauses (README: Throttling) */
  throttle: ThrottleConfig;
  /** where attachments, template backups and exports keep their bytes (BLOB_STORE; README: Blob store) */
  blobStore: BlobStoreConfig;
}

export type BlobStoreConfig = { kind: 'local' } | { kind: 'postgres' } | ({ kind: 's3' } & S3Settings);

export interface S3Settings {
  /** undefined: AWS S3 itself; else the S3-compatible server's URL */
  endpoint: string | undefined;
  bucket: string;
  region: string;
  /** undefined (both): the AWS SDK's default credentials (environment, instance role, ...) */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  /** bucket in the path (http://host/bucket/key) rather than the host name: most S3-compatible servers want it */
  forcePathStyle: boolean;
  /** put before every object key ('' or ending in /), so a bucket can be shared */
  prefix: string;
}

export interface ThrottleConfig {
  /** a domain without an entry in `domains` (THROTTLE_DOMAIN_CONNECTIONS, THROTTLE_DOMAIN_PER_MINUTE) */
  domain: DomainLimits;
  /** the built-in domains' limits and THROTTLE_DOMAINS' overrides, by lower-case ASCII domain */
  domains: ReadonlyMap<string, DomainLimits>;
  /** messages a minute per project (THROTTLE_PROJECT_PER_MINUTE); 0: no limit */
  projectPerMinute: number;
  /** a domain's first pause after a slow-down reply or all its hosts unreachable; doubles with each level */
  pauseMs: number;
  /** the longest pause */
  pauseMaxMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/**
 * Each variable is one zod schema from its raw text (undefined when unset or empty) to its value,
 * with a message that names the variable; loadConfig reports every bad variable at once.
 */
const raw = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

function int(name: string, def: number, min: number, max: number) {
  return raw.transform((v, ctx) => {
    if (v === undefined) return def;
    if (!/^\d+$/.test(v.trim())) return fail(ctx, `${name} must be a whole number, got "${v}"`, def);
    const n = Number(v);
    if (n < min || n > max) return fail(ctx, `${name} must be between ${min} and ${max}, got ${n}`, def);
    return n;
  });
}

function bool(name: string, def: boolean) {
  return raw.transform((v, ctx) => {
    const t = v?.trim().toLowerCase();
    if (t === undefined) return def;
    if (['1', 'true', 'yes', 'on'].includes(t)) return true;
    if (['0', 'false', 'no', 'off'].includes(t)) return false;
    return fail(ctx, `${name} must be true or false, got "${v}"`, def);
  });
}

function url(name: string, protocols: string[]) {
  return raw.transform((v, ctx) => {
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return fail(ctx, `${name} is not a valid URL`, undefined);
    }
    if (!protocols.includes(u.protocol)) return fail(ctx, `${name} must start with ${protocols.map((p) => p + '//').join(' or ')}`, undefined);
    return v;
  });
}

/** SMTP_URL: a relay URL, or `direct` (no relay: each domain's MX hosts). */
const smtpUrl = raw.transform((v, ctx) => {
  if (v?.trim().toLowerCase() === 'direct') return 'direct';
  const parsed = url('SMTP_URL', ['smtp:', 'smtps:']).safeParse(v);
  if (parsed.success) return parsed.data;
  return fail(ctx, `${parsed.error.issues[0]!.message} (or be "direct")`, undefined);
});

function oneOf<const T extends string>(name: string, values: readonly T[], def: T) {
  return raw.transform((v, ctx) => {
    if (v === undefined) return def;
    if ((values as readonly string[]).includes(v)) return v as T;
    return fail(ctx, `${name} must be one of ${values.join(', ')}, got "${v}"`, def);
  });
}

function fail<T>(ctx: z.RefinementCtx, message: string, placeholder: T): T {
  ctx.addIssue({ code: 'custom', message });
  return placeholder;
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** TRUST_PROXY as Express's `trust proxy` takes it; checked here so a typo fails at start, not per request. */
const trustProxy = raw.transform((v, ctx): boolean | number | string[] => {
  const t = (v ?? '').trim();
  if (t === '' || t === 'false') return false;
  if (t === 'true') return true;
  if (/^\d+$/.test(t)) return Number(t);
  const items = t
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const item of items) {
    const [addr, bits, ...rest] = item.split('/');
    const ok =
      PROXY_NAMES.includes(item) ||
      (rest.length === 0 && isIP(addr!) !== 0 && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (isIP(addr!) === 4 ? 32 : 128))));
    if (!ok)
      return fail(
        ctx,
        `TRUST_PROXY: "${item}" is not an IP address, a CIDR range or one of ${PROXY_NAMES.join(', ')} (or use true, false or a hop count)`,
        false,
      );
  }
  return items;
});

/** DNS_SERVERS: comma-separated `ip`, `ip:port` or `[ipv6]:port`, as node:dns's setServers takes them. */
const dnsServers = raw.transform((v, ctx): string[] | undefined => {
  const items = (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (items.length === 0) return undefined;
  for (const item of items) {
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(item) ?? /^([^:]+)(?::(\d{1,5}))?$/.exec(item);
    const host = m ? m[1]! : item;
    const port = m?.[2];
    const ok = isIP(host) !== 0 && (port === undefined || (Number(port) >= 1 && Number(port) <= 65535));
    if (!ok && isIP(item) !== 6)
      return fail(ctx, `DNS_SERVERS: "${item}" is not an IP address with an optional port (e.g. 10.0.0.2, 10.0.0.2:5353, [::1]:53)`, undefined);
  }
  return items;
});

const timezone = raw.transform((v, ctx) => {
  const tz = v ?? 'Asia/Seoul';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch {
    return fail(ctx, `DISPLAY_TIMEZONE "${tz}" is not a known time zone`, 'Asia/Seoul');
  }
});

/** Checked up front (not after the migrations, where it was first used). */
const masterKey = raw.transform((v, ctx) => {
  if (v === undefined) return undefined;
  try {
    parseMasterKey(v);
  } catch (err) {
    return fail(ctx, (err as Error).message, undefined);
  }
  return v;
});

/** A domain name (IDN as typed, stored as A-labels), lower-case. */
const domain = (name: string) =>
  raw.transform((v, ctx) => {
    if (v === undefined || v === '') return undefined;
    const d = normaliseDomain(v);
    return d ?? fail(ctx, `${name} "${v}" is not a domain name`, undefined);
  });

/** A bucket name that can be a host name label (S3's rules since 2018): lower case, digits, dots and hyphens, 3-63 characters. */
const HOSTABLE_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * S3_BUCKET: a name by S3's rules, or by its older ones (AWS's us-east-1 took names of up to 255
 * characters with upper case and underscores until 2018, and S3-compatible servers still may):
 * such a bucket can only be addressed in the path (S3_FORCE_PATH_STYLE is implied).
 */
const bucket = raw.transform((v, ctx) => {
  if (v === undefined) return undefined;
  if (HOSTABLE_BUCKET.test(v) || /^[A-Za-z0-9._-]{3,255}$/.test(v)) return v;
  return fail(
    ctx,
    `S3_BUCKET "${v}" is not a bucket name (3-63 lower-case letters, digits, dots and hyphens; an older bucket's name may also hold upper case and underscores, up to 255)`,
    undefined,
  );
});

/** S3_KEY_PREFIX: a folder-like prefix of every object key. */
const keyPrefix = raw.transform((v, ctx) => {
  if (v === undefined) return '';
  if (/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/.test(v) && !v.split('/').includes('..')) return v.endsWith('/') ? v : `${v}/`;
  return fail(ctx, `S3_KEY_PREFIX "${v}" must be path segments of letters, digits, dots, hyphens and underscores (e.g. mailer/)`, '');
});

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const schema = z.object({
  PORT: int('PORT', 8080, 0, 65535),
  DATABASE_URL: url('DATABASE_URL', ['postgres:', 'postgresql:']),
  SMTP_URL: smtpUrl,
  SMTP_MAX_CONNECTIONS: int('SMTP_MAX_CONNECTIONS', 4, 1, 100),
  SMTP_TIMEOUT_MS: int('SMTP_TIMEOUT_MS', 60_000, 100, 600_000),
  DIRECT_SMTP_PORT: int('DIRECT_SMTP_PORT', 25, 1, 65535),
  DIRECT_HELO_NAME: domain('DIRECT_HELO_NAME'),
  DIRECT_ALLOW_PRIVATE: bool('DIRECT_ALLOW_PRIVATE', false),
  ROLE: oneOf('ROLE', ['api', 'worker', 'all'], 'all'),
  PUBLIC_BASE_URL: url('PUBLIC_BASE_URL', ['http:', 'https:']),
  MAILER_ACCESS_KEY: raw,
  MAILER_SECRET_KEY: raw,
  MASTER_KEY: masterKey,
  DISPLAY_TIMEZONE: timezone,
  RETRY_LIMIT: int('RETRY_LIMIT', 3, 0, 20),
  RETRY_BASE_DELAY_MS: int('RETRY_BASE_DELAY_MS', 60000, 0, 86_400_000),
  AD_TITLE_PREFIX: z.string().optional(),
  DATA_DIR: raw,
  LOG_LEVEL: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
  WORKER_CONCURRENCY: int('WORKER_CONCURRENCY', 4, 1, 64),
  DELIVERY_CLAIM_BATCH: int('DELIVERY_CLAIM_BATCH', 50, 1, 1_000),
  STORE_PARALLELISM: int('STORE_PARALLELISM', 2, 1, 16),
  MAX_BODY_BYTES: int('MAX_BODY_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  RETENTION_DAYS: int('RETENTION_DAYS', 0, 0, 36_500),
  BODY_BUDGET_BYTES: raw,
  BODY_BUDGET_WAIT_MS: int('BODY_BUDGET_WAIT_MS', 60_000, 0, 600_000),
  RATE_LIMIT_PER_SECOND: int('RATE_LIMIT_PER_SECOND', 1000, 0, 1_000_000),
  RATE_LIMIT_BURST: raw,
  TRUST_PROXY: trustProxy,
  MAX_QUEUED_EXPORTS: int('MAX_QUEUED_EXPORTS', 10, 1, 10_000),
  MAX_STORED_FILES: int('MAX_STORED_FILES', 1_000, 1, 1_000_000),
  MAX_STORED_RECIPIENT_FILES: int('MAX_STORED_RECIPIENT_FILES', 100, 1, 100_000),
  METRICS_ENABLED: bool('METRICS_ENABLED', true),
  METRICS_PORT: int('METRICS_PORT', 0, 1, 65535),
  CONSOLE_SESSION_IDLE_MINUTES: int('CONSOLE_SESSION_IDLE_MINUTES', 30, 1, 24 * 60),
  CONSOLE_SESSION_MAX_HOURS: int('CONSOLE_SESSION_MAX_HOURS', 12, 1, 24 * 30),
  DNS_SERVERS: dnsServers,
  WEBHOOK_ALLOW_PRIVATE: bool('WEBHOOK_ALLOW_PRIVATE', false),
  WEBHOOK_TIMEOUT_MS: int('WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
  WEBHOOK_CONCURRENCY: int('WEBHOOK_CONCURRENCY', 64, 1, 1_000),
  WEBHOOK_RETRY_BASE_MS: int('WEBHOOK_RETRY_BASE_MS', 30_000, 1, 3_600_000),
  WEBHOOK_RETRY_WINDOW_MS: int('WEBHOOK_RETRY_WINDOW_MS', 86_400_000, 0, 30 * 86_400_000),
  WEBHOOK_DISABLE_FAILURES: int('WEBHOOK_DISABLE_FAILURES', 20, 1, 1_000_000),
  WEBHOOK_DISABLE_AFTER_MS: int('WEBHOOK_DISABLE_AFTER_MS', 86_400_000, 0, 30 * 86_400_000),
  BOUNCE_DOMAIN: domain('BOUNCE_DOMAIN'),
  INBOUND_SMTP_PORT: int('INBOUND_SMTP_PORT', 0, 0, 65535),
  INBOUND_SMTP_HOST: raw,
  INBOUND_MAX_BYTES: int('INBOUND_MAX_BYTES', 10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  INBOUND_FBL_ADDRESS: raw,
  THROTTLE_DOMAIN_CONNECTIONS: int('THROTTLE_DOMAIN_CONNECTIONS', 10, 1, MAX_DOMAIN_CONNECTIONS),
  THROTTLE_DOMAIN_PER_MINUTE: int('THROTTLE_DOMAIN_PER_MINUTE', DEFAULT_DOMAIN_PER_MINUTE, 1, MAX_PER_MINUTE),
  THROTTLE_PROJECT_PER_MINUTE: int('THROTTLE_PROJECT_PER_MINUTE', 0, 0, MAX_PER_MINUTE),
  THROTTLE_DOMAINS: raw,
  THROTTLE_PAUSE_MS: int('THROTTLE_PAUSE_MS', 60_000, 100, 86_400_000),
  THROTTLE_PAUSE_MAX_MS: raw,
  BLOB_STORE: oneOf('BLOB_STORE', ['local', 'postgres', 's3'], 'local'),
  S3_ENDPOINT: url('S3_ENDPOINT', ['http:', 'https:']),
  S3_BUCKET: bucket,
  S3_REGION: raw,
  S3_ACCESS_KEY_ID: raw,
  S3_SECRET_ACCESS_KEY: raw,
  S3_FORCE_PATH_STYLE: bool('S3_FORCE_PATH_STYLE', false),
  S3_KEY_PREFIX: keyPrefix,
});

/** THROTTLE_DOMAINS over the defaults it overrides: `gmail.com=connections:5,perMinute:600;naver.com=perMinute:300`. */
const throttleDomains = (defaults: DomainLimits, direct: boolean) =>
  raw.transform((v, ctx) => {
    try {
      return domainLimitTable(parseDomainOverrides(v ?? '', defaults, builtInLimits(direct)), direct);
    } catch (err) {
      return fail(ctx, `THROTTLE_DOMAINS: ${(err as Error).message}`, domainLimitTable(new Map(), direct));
    }
  });

/** Defaults that depend on another variable, checked after it: one more pass of the same schemas. */
const dependent = (e: {
  MAX_BODY_BYTES: number;
  RATE_LIMIT_PER_SECOND: number;
  THROTTLE_DOMAIN_CONNECTIONS: number;
  THROTTLE_DOMAIN_PER_MINUTE: number;
  THROTTLE_PAUSE_MS: number;
  SMTP_URL: string | undefined;
}) =>
  z.object({
    THROTTLE_DOMAINS: throttleDomains({ connections: e.THROTTLE_DOMAIN_CONNECTIONS, perMinute: e.THROTTLE_DOMAIN_PER_MINUTE }, e.SMTP_URL === 'direct'),
    THROTTLE_PAUSE_MAX_MS: int('THROTTLE_PAUSE_MAX_MS', Math.max(15 * 60_000, e.THROTTLE_PAUSE_MS), e.THROTTLE_PAUSE_MS, 7 * 86_400_000),
    BODY_BUDGET_BYTES: int('BODY_BUDGET_BYTES', e.MAX_BODY_BYTES, 1024, 4 * 1024 * 1024 * 1024),
    RATE_LIMIT_BURST: int('RATE_LIMIT_BURST', Math.max(1, e.RATE_LIMIT_PER_SECOND * 2), 1, 10_000_000),
  });

/** Every bad variable, one per line, in one error: a start fails once, not once per mistake. */
function issuesOf(...results: { success: boolean; error?: z.ZodError }[]): string[] {
  return results.flatMap((r) => (r.success ? [] : r.error!.issues.map((i) => i.message)));
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const first = schema.safeParse(env);
  const e = first.data ?? schema.parse({}); // defaults, so the dependent pass can still report its own
  const second = dependent(e).safeParse(env);
  const problems = issuesOf(first, second);
  // Checked beside the schema: zod skips object-level refinements once a field has failed.
  if (!env.MAILER_ACCESS_KEY !== !env.MAILER_SECRET_KEY) problems.push('MAILER_ACCESS_KEY and MAILER_SECRET_KEY must be set together');
  if (env.INBOUND_SMTP_PORT && !env.BOUNCE_DOMAIN) problems.push('INBOUND_SMTP_PORT needs BOUNCE_DOMAIN: the listener takes reports for that domain only');
  if (env.BLOB_STORE === 's3' && !env.S3_BUCKET) problems.push('BLOB_STORE=s3 needs S3_BUCKET (and S3_ENDPOINT for a server other than AWS S3)');
  if (!env.S3_ACCESS_KEY_ID !== !env.S3_SECRET_ACCESS_KEY) problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
  if (problems.length === 1) throw new ConfigError(problems[0]!);
  if (problems.length > 1) throw new ConfigError(`${problems.length} settings are invalid: ${problems.join('; ')}`);
  const d = second.data!;
  const publicBaseUrl = e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`;
  return Object.freeze({
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    smtpUrl: e.SMTP_URL,
    smtpMaxConnections: e.SMTP_MAX_CONNECTIONS,
    smtpTimeoutMs: e.SMTP_TIMEOUT_MS,
    directSmtpPort: e.DIRECT_SMTP_PORT,
    directHeloName: e.DIRECT_HELO_NAME ?? os.hostname(),
    directAllowPrivate: e.DIRECT_ALLOW_PRIVATE,
    role: e.ROLE,
    publicBaseUrl: publicBaseUrl.replace(/\/+$/, ''),
    accessKey: e.MAILER_ACCESS_KEY,
    secretKey: e.MAILER_SECRET_KEY,
    masterKey: e.MASTER_KEY,
    displayTimezone: e.DISPLAY_TIMEZONE,
    retryLimit: e.RETRY_LIMIT,
    retryBaseDelayMs: e.RETRY_BASE_DELAY_MS,
    adTitlePrefix: e.AD_TITLE_PREFIX ?? '(광고)',
    dataDir: path.resolve(e.DATA_DIR ?? '.data'),
    logLevel: e.LOG_LEVEL,
    workerConcurrency: e.WORKER_CONCURRENCY,
    deliveryClaimBatch: e.DELIVERY_CLAIM_BATCH,
    storeParallelism: e.STORE_PARALLELISM,
    maxBodyBytes: e.MAX_BODY_BYTES,
    retentionDays: e.RETENTION_DAYS,
    bodyBudgetBytes: d.BODY_BUDGET_BYTES,
    bodyBudgetWaitMs: e.BODY_BUDGET_WAIT_MS,
    rateLimitPerSecond: e.RATE_LIMIT_PER_SECOND,
    rateLimitBurst: d.RATE_LIMIT_BURST,
    trustProxy: e.TRUST_PROXY,
    maxQueuedExports: e.MAX_QUEUED_EXPORTS,
    maxStoredFiles: e.MAX_STORED_FILES,
    maxStoredRecipientFiles: e.MAX_STORED_RECIPIENT_FILES,
    metricsEnabled: e.METRICS_ENABLED,
    // unset: /metrics on the service's own port
    metricsPort: env.METRICS_PORT ? e.METRICS_PORT : undefined,
    consoleSessionIdleMinutes: e.CONSOLE_SESSION_IDLE_MINUTES,
    consoleSessionMaxHours: e.CONSOLE_SESSION_MAX_HOURS,
    dnsServers: e.DNS_SERVERS,
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    webhookConcurrency: e.WEBHOOK_CONCURRENCY,
    webhookRetryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
    webhookRetryWindowMs: e.WEBHOOK_RETRY_WINDOW_MS,
    webhookDisableFailures: e.WEBHOOK_DISABLE_FAILURES,
    webhookDisableAfterMs: e.WEBHOOK_DISABLE_AFTER_MS,
    bounceDomain: e.BOUNCE_DOMAIN,
    // unset: no listener (port 0 picks a free port, for tests)
    inboundSmtpPort: env.INBOUND_SMTP_PORT ? e.INBOUND_SMTP_PORT : undefined,
    inboundSmtpHost: e.INBOUND_SMTP_HOST || '0.0.0.0',
    inboundMaxBytes: e.INBOUND_MAX_BYTES,
    inboundFblAddress: e.INBOUND_FBL_ADDRESS?.toLowerCase() || (e.BOUNCE_DOMAIN ? `fbl@${e.BOUNCE_DOMAIN}` : undefined),
    throttle: Object.freeze({
      domain: { connections: e.THROTTLE_DOMAIN_CONNECTIONS, perMinute: e.THROTTLE_DOMAIN_PER_MINUTE },
      domains: d.THROTTLE_DOMAINS,
      projectPerMinute: e.THROTTLE_PROJECT_PER_MINUTE,
      pauseMs: e.THROTTLE_PAUSE_MS,
      pauseMaxMs: d.THROTTLE_PAUSE_MAX_MS,
    }),
    blobStore: Object.freeze(
      e.BLOB_STORE === 's3'
        ? {
            kind: 's3' as const,
            endpoint: e.S3_ENDPOINT,
            bucket: e.S3_BUCKET!,
            region: e.S3_REGION ?? 'us-east-1',
            accessKeyId: e.S3_ACCESS_KEY_ID,
            secretAccessKey: e.S3_SECRET_ACCESS_KEY,
            // an older bucket's name is no host name: only its path can name it
            forcePathStyle: e.S3_FORCE_PATH_STYLE || !HOSTABLE_BUCKET.test(e.S3_BUCKET!),
            prefix: e.S3_KEY_PREFIX,
          }
        : { kind: e.BLOB_STORE },
    ),
  });
}
