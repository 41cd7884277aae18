import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import nodemailer from 'nodemailer';
import { freePort, sleep, startServiceProcess, stopAllServiceProcesses, TEST_ACCESS_KEY, type ServiceProcess } from '../helpers/service-process.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';

/**
 * The operating surface of the real service in child processes: ROLE=worker serves health and
 * metrics on PORT, readiness turns 503 while a SIGTERM drains a send in flight, and auth
 * failures are logged with their reason but without the signature.
 */

let db: TestDb;
let sink: TestSink;

beforeAll(async () => {
  db = await createTestDb();
  sink = await startTestSink();
});
afterAll(async () => {
  await stopAllServiceProcesses();
  await sink.close();
  await db.drop();
});

async function get(port: number, path: string) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

describe('a ROLE=api and a ROLE=worker process on one database', () => {
  let api: ServiceProcess;
  let worker: ServiceProcess;
  let workerPort: number;
  let inboundPort: number;

  beforeAll(async () => {
    workerPort = await freePort();
    inboundPort = await freePort();
    worker = await startServiceProcess({
      name: 'worker',
      role: 'worker',
      databaseUrl: db.url,
      smtpUrl: sink.url,
      env: { PORT: String(workerPort), BOUNCE_DOMAIN: 'bounces.example.test', INBOUND_SMTP_PORT: String(inboundPort), INBOUND_SMTP_HOST: '127.0.0.1' },
    });
    api = await startServiceProcess({ name: 'api', role: 'api', databaseUrl: db.url, smtpUrl: sink.url, dataDir: worker.dataDir });
  });

  it('the worker answers /health/live, /health/ready and /metrics on PORT, and nothing else', async () => {
    expect(await get(workerPort, '/health/live')).toEqual({ status: 200, text: '{"status":"ok"}' });
    expect(await get(workerPort, '/health/ready')).toEqual({ status: 200, text: '{"status":"ok"}' });
    const metrics = await get(workerPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^mailer_queue_due_mails \d+$/m);
    expect(metrics.text).toMatch(/^mailer_smtp_pool_max_connections 4$/m);
    expect((await get(workerPort, '/api/v1/mails/requests')).status).toBe(404);
  });

  it('the worker runs the bounce listener on INBOUND_SMTP_PORT: it refuses addresses that are no return path of ours', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: inboundPort, secure: false, ignoreTLS: true });
    const err = await client.sendMail({ envelope: { from: '', to: 'someone@bounces.example.test' }, raw: 'Subject: x\r\n\r\nx\r\n' }).catch((e: unknown) => e);
    client.close();
    expect(err).toMatchObject({ responseCode: 550 });
    expect((await get(workerPort, '/metrics')).text).toMatch(/^mailer_inbound_messages_total\{outcome="unknown_address"\} 1$/m);
  });

  it('auth failures are logged with their reason, never with the signature', async () => {
    expect((await api.get('/api/v1/mails/requests')).status).toBe(401);
    const missing = await api.waitForLog((r) => r.msg === 'authentication failed' && r.reason === 'missing header');
    expect(missing.missing).toEqual(['x-ncp-iam-access-key', 'x-ncp-apigw-timestamp', 'x-ncp-apigw-signature-v2']);

    const badSignature = 'bm90LXRoZS1yaWdodC1zaWduYXR1cmUtYXQtYWxsLi4uLi4=';
    const res = await fetch(`${api.baseUrl}/api/v1/mails/requests`, {
      headers: { 'x-ncp-apigw-timestamp': String(Date.now()), 'x-ncp-iam-access-key': TEST_ACCESS_KEY, 'x-ncp-apigw-signature-v2': badSignature },
    });
    expect(res.status).toBe(401);
    await api.waitForLog((r) => r.msg === 'authentication failed' && r.reason === 'signature mismatch' && r.accessKey === TEST_ACCESS_KEY);

    await fetch(`${api.baseUrl}/api/v1/mails/requests`, {
      headers: { 'x-ncp-apigw-timestamp': '1000', 'x-ncp-iam-access-key': TEST_ACCESS_KEY, 'x-ncp-apigw-signature-v2': badSignature },
    });
    await api.waitForLog((r) => r.msg === 'authentication failed' && r.reason === 'timestamp skew');
    await fetch(`${api.baseUrl}/api/v1/mails/requests`, {
      headers: { 'x-ncp-apigw-timestamp': String(Date.now()), 'x-ncp-iam-access-key': 'NO-SUCH-KEY', 'x-ncp-apigw-signature-v2': badSignature },
    });
    await api.waitForLog((r) => r.msg === 'authentication failed' && r.reason === 'unknown key' && r.accessKeyPrefix === 'NO-S');
    expect(api.output()).not.toContain(badSignature);
    // an unknown "access key" may be a secret sent in its place: only its prefix is logged
    expect(api.output()).not.toContain('NO-SUCH-KEY');
  });

  it('SIGTERM: /health/ready answers 503 draining while a send is in flight, /health/live 200, then the worker exits 0', async () => {
    sink.setDataDelay(4_000);
    const post = await api.call('POST', '/api/v1/mails', {
      senderAddress: 'ops@example.com',
      title: 'drain',
      body: '<p>x</p>',
      recipients: [{ address: 'drain@example.com', type: 'R' }],
    });
    expect(post.status).toBe(201);
    // The message is with the (slow) relay: the in-flight gauge says so.
    for (let i = 0; ; i++) {
      if (/^mailer_smtp_sends_in_flight 1$/m.test((await get(workerPort, '/metrics')).text)) break;
      if (i > 100) throw new Error(`no send in flight\n${worker.tail(40)}`);
      await sleep(50);
    }
    worker.kill('SIGTERM');
    await sleep(200);
    expect(await get(workerPort, '/health/ready')).toEqual({ status: 503, text: '{"status":"draining"}' });
    expect((await get(workerPort, '/health/live')).status).toBe(200);
    expect((await worker.waitForExit(20_000)).code).toBe(0);
    expect(sink.messages.map((m) => m.to)).toContainEqual(['drain@example.com']);
  });
});

describe('METRICS_PORT', () => {
  it('moves /metrics to a listener of its own; the service port answers 404 there and keeps health', async () => {
    const metricsPort = await freePort();
    const svc = await startServiceProcess({
      name: 'metrics-port',
      role: 'api',
      databaseUrl: db.url,
      smtpUrl: sink.url,
      env: { METRICS_PORT: String(metricsPort) },
    });
    try {
      const moved = await get(metricsPort, '/metrics');
      expect(moved.status).toBe(200);
      expect(moved.text).toMatch(/^mailer_http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} [1-9]/m);
      expect((await svc.get('/metrics')).status).toBe(404);
      expect((await get(metricsPort, '/health/ready')).status).toBe(404);
      expect((await svc.get('/health/ready')).status).toBe(200);
    } finally {
      await svc.stop();
    }
  });
});
