import { spawnSync } from 'node:child_process';
import { describe, it, expect } from '@jest/globals';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, ConfigError } from '../../src/config.ts';

type Env = Record<string, string | undefined>;

function expectConfigError(env: Env, name: string | RegExp): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const msg = (caught as Error).message;
  if (typeof name === 'string') expect(msg).toContain(name);
  else expect(msg).toMatch(name);
  return caught as ConfigError;
}

describe('loadConfig: defaults', () => {
  it('an empty environment gives the defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      databaseUrl: undefined,
      smtpUrl: undefined,
      smtpMaxConnections: 4,
      smtpTimeoutMs: 60000,
      directSmtpPort: 25,
      directHeloName: os.hostname(),
      directAllowPrivate: false,
      role: 'all',
      publicBaseUrl: 'http://localhost:8080',
      accessKey: undefined,
      secretKey: undefined,
      masterKey: undefined,
      displayTimezone: 'Asia/Seoul',
      retryLimit: 3,
      retryBaseDelayMs: 60000,
      adTitlePrefix: '(광고)',
      dataDir: path.resolve('.data'),
      logLevel: 'info',
      workerConcurrency: 4,
      deliveryClaimBatch: 50,
      storeParallelism: 2,
      maxBodyBytes: 64 * 1024 * 1024,
      retentionDays: 0,
      bodyBudgetBytes: 64 * 1024 * 1024,
      bodyBudgetWaitMs: 60_000,
      rateLimitPerSecond: 1000,
      rateLimitBurst: 2000,
      trustProxy: false,
      maxQueuedExports: 10,
      maxStoredFiles: 1000,
      maxStoredRecipientFiles: 100,
      metricsEnabled: true,
      metricsPort: undefined,
      consoleSessionIdleMinutes: 30,
      consoleSessionMaxHours: 12,
      dnsServers: undefined,
      webhookAllowPrivate: false,
      webhookTimeoutMs: 10_000,
      webhookConcurrency: 64,
      webhookRetryBaseMs: 30_000,
      webhookRetryWindowMs: 86_400_000,
      webhookDisableFailures: 20,
      webhookDisableAfterMs: 86_400_000,
      bounceDomain: undefined,
      inboundSmtpPort: undefined,
      inboundSmtpHost: '0.0.0.0',
      inboundMaxBytes: 10 * 1024 * 1024,
      inboundFblAddress: undefined,
      throttle: {
        domain: { connections: 10, perMinute: 600_000 },
        // the built-in limits of gmail.com, naver.com and yahoo.co.jp hold in direct mode only
        domains: new Map(),
        projectPerMinute: 0,
        pauseMs: 60_000,
        pauseMaxMs: 900_000,
      },
      blobStore: { kind: 'local' },
    });
  });

  it('empty strings count as unset', () => {
    const c = loadConfig({
      PORT: '',
      ROLE: '',
      DISPLAY_TIMEZONE: '',
      LOG_LEVEL: '',
      DATABASE_URL: '',
      SMTP_URL: '',
      MAILER_ACCESS_KEY: '',
      MAILER_SECRET_KEY: '',
      MASTER_KEY: '',
      DATA_DIR: '',
      PUBLIC_BASE_URL: '',
    });
    expect(c).toEqual(loadConfig({}));
  });

  it('is frozen', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('does not read process.env when an env is given', () => {
    const saved = process.env.PORT;
    process.env.PORT = '1234';
    try {
      expect(loadConfig({}).port).toBe(8080);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });
});

describe('loadConfig: valid values', () => {
  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '3000',
      DATABASE_URL: 'postgresql://u:p@db:5432/mailer',
      SMTP_URL: 'smtps://user:pass@smtp.example.com:465',
      SMTP_MAX_CONNECTIONS: '10',
      DIRECT_SMTP_PORT: '2525',
      DIRECT_HELO_NAME: 'Mailer.Example.com',
      DIRECT_ALLOW_PRIVATE: 'true',
      ROLE: 'worker',
      PUBLIC_BASE_URL: 'https://mail.example.com',
      MAILER_ACCESS_KEY: 'ak',
      MAILER_SECRET_KEY: 'sk',
      MASTER_KEY: 'a1'.repeat(32),
      DISPLAY_TIMEZONE: 'UTC',
      RETRY_LIMIT: '0',
      RETRY_BASE_DELAY_MS: '1000',
      AD_TITLE_PREFIX: '[AD]',
      DATA_DIR: '/var/lib/mailer',
      LOG_LEVEL: 'debug',
      WORKER_CONCURRENCY: '8',
      DELIVERY_CLAIM_BATCH: '200',
      STORE_PARALLELISM: '4',
      MAX_BODY_BYTES: '1024',
      RETENTION_DAYS: '90',
      BODY_BUDGET_BYTES: '2048',
      BODY_BUDGET_WAIT_MS: '0',
      RATE_LIMIT_PER_SECOND: '0',
      RATE_LIMIT_BURST: '5',
      TRUST_PROXY: '10.0.0.0/8, loopback,::1',
      MAX_QUEUED_EXPORTS: '3',
      MAX_STORED_FILES: '4',
      MAX_STORED_RECIPIENT_FILES: '5',
      METRICS_ENABLED: 'false',
      METRICS_PORT: '9464',
      CONSOLE_SESSION_IDLE_MINUTES: '15',
      CONSOLE_SESSION_MAX_HOURS: '8',
      DNS_SERVERS: '10.0.0.2, 127.0.0.1:5353,[::1]:53',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_CONCURRENCY: '8',
      WEBHOOK_RETRY_BASE_MS: '100',
      WEBHOOK_RETRY_WINDOW_MS: '60000',
      WEBHOOK_DISABLE_FAILURES: '3',
      WEBHOOK_DISABLE_AFTER_MS: '0',
      BOUNCE_DOMAIN: 'Bounces.Example.COM.',
      INBOUND_SMTP_PORT: '2525',
      INBOUND_SMTP_HOST: '127.0.0.1',
      INBOUND_MAX_BYTES: '65536',
      THROTTLE_DOMAIN_CONNECTIONS: '20',
      THROTTLE_DOMAIN_PER_MINUTE: '1000',
      THROTTLE_PROJECT_PER_MINUTE: '500',
      THROTTLE_DOMAINS: 'naver.com=perMinute:100;example.org=connections:1',
      THROTTLE_PAUSE_MS: '1000',
      THROTTLE_PAUSE_MAX_MS: '5000',
      BLOB_STORE: 'postgres',
    });
    expect(c).toEqual({
      port: 3000,
      databaseUrl: 'postgresql://u:p@db:5432/mailer',
      smtpUrl: 'smtps://user:pass@smtp.example.com:465',
      smtpMaxConnections: 10,
      smtpTimeoutMs: 60000,
      directSmtpPort: 2525,
      directHeloName: 'mailer.example.com',
      directAllowPrivate: true,
      role: 'worker',
      publicBaseUrl: 'https://mail.example.com',
      accessKey: 'ak',
      secretKey: 'sk',
      masterKey: 'a1'.repeat(32),
      displayTimezone: 'UTC',
      retryLimit: 0,
      retryBaseDelayMs: 1000,
      adTitlePrefix: '[AD]',
      dataDir: '/var/lib/mailer',
      logLevel: 'debug',
      workerConcurrency: 8,
      deliveryClaimBatch: 200,
      storeParallelism: 4,
      maxBodyBytes: 1024,
      retentionDays: 90,
      bodyBudgetBytes: 2048,
      bodyBudgetWaitMs: 0,
      rateLimitPerSecond: 0,
      rateLimitBurst: 5,
      trustProxy: ['10.0.0.0/8', 'loopback', '::1'],
      maxQueuedExports: 3,
      maxStoredFiles: 4,
      maxStoredRecipientFiles: 5,
      metricsEnabled: false,
      metricsPort: 9464,
      consoleSessionIdleMinutes: 15,
      consoleSessionMaxHours: 8,
      dnsServers: ['10.0.0.2', '127.0.0.1:5353', '[::1]:53'],
      webhookAllowPrivate: true,
      webhookTimeoutMs: 2000,
      webhookConcurrency: 8,
      webhookRetryBaseMs: 100,
      webhookRetryWindowMs: 60_000,
      webhookDisableFailures: 3,
      webhookDisableAfterMs: 0,
      bounceDomain: 'bounces.example.com',
      inboundSmtpPort: 2525,
      inboundSmtpHost: '127.0.0.1',
      inboundMaxBytes: 65536,
      inboundFblAddress: 'fbl@bounces.example.com',
      throttle: {
        domain: { connections: 20, perMinute: 1000 },
        // through a relay: only what THROTTLE_DOMAINS names, over the defaults
        domains: new Map([
          ['naver.com', { connections: 20, perMinute: 100 }],
          ['example.org', { connections: 1, perMinute: 1000 }],
        ]),
        projectPerMinute: 500,
        pauseMs: 1000,
        pauseMaxMs: 5000,
      },
      blobStore: { kind: 'postgres' },
    });
  });

  it('direct mode adds the built-in limits of gmail.com, naver.com and yahoo.co.jp; THROTTLE_DOMAINS overrides what it names of them', () => {
    const c = loadConfig({ SMTP_URL: 'direct', THROTTLE_DOMAINS: 'naver.com=perMinute:100;example.org=connections:1' });
    expect(c.throttle.domains).toEqual(
      new Map([
        ['gmail.com', { connections: 5, perMinute: 1200 }],
        ['naver.com', { connections: 3, perMinute: 100 }],
        ['yahoo.co.jp', { connections: 3, perMinute: 300 }],
        ['example.org', { connections: 1, perMinute: 600_000 }],
      ]),
    );
  });

  it.each([
    ['true', true],
    ['false', false],
    ['2', 2],
  ])('TRUST_PROXY=%s', (raw, value) => {
    expect(loadConfig({ TRUST_PROXY: raw }).trustProxy).toEqual(value);
  });

  it('BODY_BUDGET_BYTES defaults to MAX_BODY_BYTES (one largest body at a time)', () => {
    expect(loadConfig({ MAX_BODY_BYTES: '5000' }).bodyBudgetBytes).toBe(5000);
  });

  it.each(['api', 'worker', 'all'])('ROLE=%s', (role) => {
    expect(loadConfig({ ROLE: role }).role).toBe(role);
  });

  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('LOG_LEVEL=%s', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it.each(['postgres://localhost/db', 'postgresql://localhost/db'])('DATABASE_URL=%s', (url) => {
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it.each(['smtp://localhost:25', 'smtps://localhost:465'])('SMTP_URL=%s', (url) => {
    expect(loadConfig({ SMTP_URL: url }).smtpUrl).toBe(url);
  });

  it.each(['direct', 'DIRECT', ' direct '])('SMTP_URL=%j is direct delivery to MX hosts', (value) => {
    expect(loadConfig({ SMTP_URL: value }).smtpUrl).toBe('direct');
  });

  it.each(['0', '1', '65535', ' 80 '])('PORT=%j is accepted', (port) => {
    expect(loadConfig({ PORT: port }).port).toBe(Number(port));
  });

  it('the default public URL follows PORT', () => {
    expect(loadConfig({ PORT: '3000' }).publicBaseUrl).toBe('http://localhost:3000');
  });

  type Url = [given: string, expected: string];
  const urls: Url[] = [
    ['https://mail.example.com/', 'https://mail.example.com'],
    ['https://mail.example.com///', 'https://mail.example.com'],
    ['https://example.com/mailer/', 'https://example.com/mailer'],
    ['http://localhost:8080', 'http://localhost:8080'],
  ];
  it.each(urls)('PUBLIC_BASE_URL %s → %s', (given, expected) => {
    expect(loadConfig({ PUBLIC_BASE_URL: given }).publicBaseUrl).toBe(expected);
  });

  it('AD_TITLE_PREFIX may be set to empty', () => {
    expect(loadConfig({ AD_TITLE_PREFIX: '' }).adTitlePrefix).toBe('');
  });

  it('DATA_DIR is made absolute', () => {
    expect(loadConfig({ DATA_DIR: 'rel/dir' }).dataDir).toBe(path.resolve('rel/dir'));
  });

  it.each(['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo'])('DISPLAY_TIMEZONE=%s', (tz) => {
    expect(loadConfig({ DISPLAY_TIMEZONE: tz }).displayTimezone).toBe(tz);
  });
});

describe('loadConfig: invalid values name the variable', () => {
  type Row = [name: string, env: Env, variable: string];
  const rows: Row[] = [
    ['ROLE unknown', { ROLE: 'both' }, 'ROLE'],
    ['ROLE wrong case', { ROLE: 'API' }, 'ROLE'],
    ['PORT not a number', { PORT: 'http' }, 'PORT'],
    ['PORT negative', { PORT: '-1' }, 'PORT'],
    ['PORT fractional', { PORT: '80.5' }, 'PORT'],
    ['PORT too large', { PORT: '65536' }, 'PORT'],
    ['PORT hex', { PORT: '0x50' }, 'PORT'],
    ['SMTP_URL http scheme', { SMTP_URL: 'http://smtp.example.com' }, 'SMTP_URL'],
    ['SMTP_URL not a URL', { SMTP_URL: 'smtp.example.com:25' }, 'SMTP_URL'],
    ['SMTP_URL garbage', { SMTP_URL: 'not a url' }, 'SMTP_URL'],
    ['DIRECT_SMTP_PORT out of range', { DIRECT_SMTP_PORT: '70000' }, 'DIRECT_SMTP_PORT'],
    ['DIRECT_HELO_NAME not a domain', { DIRECT_HELO_NAME: 'not a name!' }, 'DIRECT_HELO_NAME'],
    ['DATABASE_URL mysql scheme', { DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL'],
    ['DATABASE_URL garbage', { DATABASE_URL: '::::' }, 'DATABASE_URL'],
    ['DNS_SERVERS a host name', { DNS_SERVERS: 'dns.example.com' }, 'DNS_SERVERS'],
    ['DNS_SERVERS a bad port', { DNS_SERVERS: '127.0.0.1:99999' }, 'DNS_SERVERS'],
    ['PUBLIC_BASE_URL ftp scheme', { PUBLIC_BASE_URL: 'ftp://example.com' }, 'PUBLIC_BASE_URL'],
    ['PUBLIC_BASE_URL not a URL', { PUBLIC_BASE_URL: 'example.com' }, 'PUBLIC_BASE_URL'],
    ['DISPLAY_TIMEZONE unknown', { DISPLAY_TIMEZONE: 'Mars/Olympus_Mons' }, 'DISPLAY_TIMEZONE'],
    ['DISPLAY_TIMEZONE garbage', { DISPLAY_TIMEZONE: 'KST+9!' }, 'DISPLAY_TIMEZONE'],
    ['LOG_LEVEL unknown', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    ['TRUST_PROXY a host name', { TRUST_PROXY: 'proxy.example.com' }, 'TRUST_PROXY'],
    ['TRUST_PROXY a bad CIDR', { TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
    ['RATE_LIMIT_PER_SECOND negative', { RATE_LIMIT_PER_SECOND: '-1' }, 'RATE_LIMIT_PER_SECOND'],
    ['LOG_LEVEL wrong case', { LOG_LEVEL: 'INFO' }, 'LOG_LEVEL'],
    ['only MAILER_ACCESS_KEY', { MAILER_ACCESS_KEY: 'ak' }, 'MAILER_SECRET_KEY'],
    ['only MAILER_SECRET_KEY', { MAILER_SECRET_KEY: 'sk' }, 'MAILER_ACCESS_KEY'],
    ['SMTP_MAX_CONNECTIONS 0', { SMTP_MAX_CONNECTIONS: '0' }, 'SMTP_MAX_CONNECTIONS'],
    ['SMTP_MAX_CONNECTIONS 101', { SMTP_MAX_CONNECTIONS: '101' }, 'SMTP_MAX_CONNECTIONS'],
    ['RETRY_LIMIT 21', { RETRY_LIMIT: '21' }, 'RETRY_LIMIT'],
    ['RETRY_LIMIT word', { RETRY_LIMIT: 'three' }, 'RETRY_LIMIT'],
    ['RETRY_BASE_DELAY_MS over a day', { RETRY_BASE_DELAY_MS: '86400001' }, 'RETRY_BASE_DELAY_MS'],
    ['WORKER_CONCURRENCY 65', { WORKER_CONCURRENCY: '65' }, 'WORKER_CONCURRENCY'],
    ['DELIVERY_CLAIM_BATCH 0', { DELIVERY_CLAIM_BATCH: '0' }, 'DELIVERY_CLAIM_BATCH'],
    ['STORE_PARALLELISM 17', { STORE_PARALLELISM: '17' }, 'STORE_PARALLELISM'],
    ['MAX_BODY_BYTES below 1 KB', { MAX_BODY_BYTES: '1023' }, 'MAX_BODY_BYTES'],
    ['MAX_BODY_BYTES with unit', { MAX_BODY_BYTES: '64mb' }, 'MAX_BODY_BYTES'],
    ['RETENTION_DAYS negative', { RETENTION_DAYS: '-1' }, 'RETENTION_DAYS'],
    ['RETENTION_DAYS with unit', { RETENTION_DAYS: '90d' }, 'RETENTION_DAYS'],
    ['RETENTION_DAYS over 100 years', { RETENTION_DAYS: '36501' }, 'RETENTION_DAYS'],
    ['BOUNCE_DOMAIN a bare name', { BOUNCE_DOMAIN: 'localhost' }, 'BOUNCE_DOMAIN'],
    ['BOUNCE_DOMAIN an address', { BOUNCE_DOMAIN: 'bounce@example.com' }, 'BOUNCE_DOMAIN'],
    ['INBOUND_SMTP_PORT without BOUNCE_DOMAIN', { INBOUND_SMTP_PORT: '2525' }, 'BOUNCE_DOMAIN'],
    ['INBOUND_MAX_BYTES below 1 KB', { INBOUND_MAX_BYTES: '100' }, 'INBOUND_MAX_BYTES'],
  ];
  it.each(rows)('%s → ConfigError naming %s', (_name, env, variable) => {
    expectConfigError(env, variable);
  });

  it('ConfigError is an Error', () => {
    expect(expectConfigError({ ROLE: 'x' }, 'ROLE')).toBeInstanceOf(Error);
  });

  it('the message quotes the bad value where it helps', () => {
    expectConfigError({ PORT: 'abc' }, '"abc"');
    expectConfigError({ ROLE: 'both' }, '"both"');
    expectConfigError({ DISPLAY_TIMEZONE: 'Mars/Olympus_Mons' }, 'Mars/Olympus_Mons');
  });

  it('a MASTER_KEY that is not 32 bytes is found at start, before any database work', () => {
    expectConfigError({ MASTER_KEY: 'k'.repeat(64) }, /^MASTER_KEY must be 32 bytes/);
    expect(loadConfig({ MASTER_KEY: Buffer.alloc(32, 7).toString('base64') }).masterKey).toBe(Buffer.alloc(32, 7).toString('base64'));
  });

  it('reports every bad variable at once', () => {
    const err = expectConfigError(
      { PORT: 'abc', ROLE: 'both', MASTER_KEY: 'short', RATE_LIMIT_BURST: '0', MAILER_ACCESS_KEY: 'only-one' },
      /^5 settings are invalid: /,
    );
    for (const name of ['PORT', 'ROLE', 'MASTER_KEY', 'RATE_LIMIT_BURST', 'MAILER_SECRET_KEY']) expect(err.message).toContain(name);
  });

  it('scheme errors say which schemes are allowed', () => {
    expectConfigError({ SMTP_URL: 'http://x' }, /smtp:\/\/ or smtps:\/\//);
    expectConfigError({ DATABASE_URL: 'mysql://x' }, /postgres:\/\/ or postgresql:\/\//);
  });
});

describe('loadConfig: metrics settings', () => {
  it('METRICS_ENABLED turns /metrics off; METRICS_PORT moves it', () => {
    expect(loadConfig({ METRICS_ENABLED: 'false' }).metricsEnabled).toBe(false);
    expect(loadConfig({ METRICS_ENABLED: '0' }).metricsEnabled).toBe(false);
    expect(loadConfig({ METRICS_ENABLED: 'on' }).metricsEnabled).toBe(true);
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
  });

  it('refuses what it cannot read, naming the variable', () => {
    expectConfigError({ METRICS_ENABLED: 'maybe' }, 'METRICS_ENABLED');
    expectConfigError({ METRICS_PORT: '0' }, 'METRICS_PORT');
    expectConfigError({ METRICS_PORT: 'x' }, 'METRICS_PORT');
  });
});

describe('loadConfig: blob store', () => {
  const s3 = { BLOB_STORE: 's3', S3_BUCKET: 'mailer-files' };

  it('BLOB_STORE is local unless set; postgres needs nothing more', () => {
    expect(loadConfig({}).blobStore).toEqual({ kind: 'local' });
    expect(loadConfig({ BLOB_STORE: 'postgres' }).blobStore).toEqual({ kind: 'postgres' });
  });

  it('s3 reads its settings, with defaults for the region, path style and prefix', () => {
    expect(loadConfig(s3).blobStore).toEqual({
      kind: 's3',
      endpoint: undefined,
      bucket: 'mailer-files',
      region: 'us-east-1',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      forcePathStyle: false,
      prefix: '',
    });
    expect(
      loadConfig({
        ...s3,
        S3_ENDPOINT: 'http://127.0.0.1:9000',
        S3_REGION: 'ap-northeast-2',
        S3_ACCESS_KEY_ID: 'id',
        S3_SECRET_ACCESS_KEY: 'secret',
        S3_FORCE_PATH_STYLE: 'true',
        S3_KEY_PREFIX: 'mailer/prod',
      }).blobStore,
    ).toEqual({
      kind: 's3',
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'mailer-files',
      region: 'ap-northeast-2',
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      forcePathStyle: true,
      prefix: 'mailer/prod/',
    });
  });

  it("takes an older bucket's name (upper case, underscores, up to 255 characters), addressed in the path", () => {
    expect(loadConfig({ ...s3, S3_BUCKET: 'Old_Mail_Bucket' }).blobStore).toMatchObject({ bucket: 'Old_Mail_Bucket', forcePathStyle: true });
    expect(loadConfig({ ...s3, S3_BUCKET: 'a'.repeat(255) }).blobStore).toMatchObject({ forcePathStyle: true });
    // a name by today's rules keeps the host style unless asked otherwise
    expect(loadConfig({ ...s3, S3_BUCKET: 'new.mail-bucket' }).blobStore).toMatchObject({ forcePathStyle: false });
  });

  it('refuses a bad or incomplete setting at start, naming what is wrong', () => {
    expectConfigError({ BLOB_STORE: 'nfs' }, 'BLOB_STORE must be one of local, postgres, s3, got "nfs"');
    expectConfigError({ BLOB_STORE: 's3' }, 'BLOB_STORE=s3 needs S3_BUCKET');
    expectConfigError({ ...s3, S3_BUCKET: 'bad/bucket' }, /S3_BUCKET "bad\/bucket" is not a bucket name/);
    expectConfigError({ ...s3, S3_BUCKET: 'a b c' }, /S3_BUCKET "a b c" is not a bucket name/);
    expectConfigError({ ...s3, S3_BUCKET: 'x'.repeat(256) }, /is not a bucket name/);
    expectConfigError({ ...s3, S3_ENDPOINT: 'ftp://x' }, /S3_ENDPOINT must start with http:\/\/ or https:\/\//);
    expectConfigError({ ...s3, S3_ACCESS_KEY_ID: 'id' }, 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
    expectConfigError({ ...s3, S3_FORCE_PATH_STYLE: 'maybe' }, 'S3_FORCE_PATH_STYLE');
    expectConfigError({ ...s3, S3_KEY_PREFIX: '../x' }, 'S3_KEY_PREFIX');
  });

  it('the secret never shows in a config error', () => {
    let message = '';
    try {
      loadConfig({ ...s3, S3_SECRET_ACCESS_KEY: 'very-secret-value', S3_BUCKET: 'X' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
    expect(message).not.toContain('very-secret-value');
  });

  it('the service refuses to start with an incomplete s3 setting, in one line, without the secret', () => {
    const res = spawnSync(process.execPath, ['src/start.ts'], {
      env: { ...process.env, BLOB_STORE: 's3', S3_SECRET_ACCESS_KEY: 'very-secret-value', NODE_NO_WARNINGS: '1' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe(
      'configuration error: 2 settings are invalid: BLOB_STORE=s3 needs S3_BUCKET (and S3_ENDPOINT for a server other than AWS S3); S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together',
    );
  });
});
