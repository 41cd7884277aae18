// What an operator sees of the relay (issue 13 item 3) and of a port in use (item 2), on the
// service as a child process: an unreachable relay is warned about at start and when deliveries
// fail (with the recipient count and the reply, never the address), and its recovery is logged.
import net from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { freePort, startServiceProcess, stopAllServiceProcesses } from '../helpers/service-process.ts';

let db: TestDb | undefined;
let sink: TestSink | undefined;
let relay: TcpProxy | undefined;

afterAll(async () => {
  await stopAllServiceProcesses();
  await relay?.close();
  await sink?.close();
  await db?.drop();
});

describe('SMTP visibility', () => {
  it('warns at start and on failed deliveries while the relay is down, and says when it recovers', async () => {
    db = await createTestDb();
    sink = await startTestSink();
    relay = await startTcpProxy({ port: sink.port });
    await relay.down();
    const svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: relay.url, env: { RETRY_BASE_DELAY_MS: '500', RETRY_LIMIT: '5' } });
    const atStart = await svc.waitForLog('smtp: relay not reachable at start');
    expect(atStart.level).toBe(40);
    expect(String(atStart.reason)).toMatch(/ECONNREFUSED/);

    const post = await svc.call('POST', '/api/v1/mails', {
      senderAddress: 'ops@company.com',
      title: 't',
      body: '<p>b</p>',
      recipients: [{ address: 'secret-person@example.com' }],
    });
    expect(post.status).toBe(201);
    const failed = await svc.waitForLog('smtp: delivery failed');
    expect(failed).toMatchObject({ level: 40, recipients: 1, code: 'CONNECTION_ABNORMAL', temporary: true });
    expect(String(failed.reply)).toMatch(/ECONNREFUSED/);

    await relay.up();
    const recovered = await svc.waitForLog('smtp: relay recovered, deliveries succeed again', 30_000);
    expect(recovered).toMatchObject({ level: 30, failures: expect.any(Number), recipients: expect.any(Number) });
    await sink.waitForMessages(1);
    // addresses are never in these lines (only at debug)
    expect(
      svc
        .logs()
        .filter((r) => String(r.msg).startsWith('smtp:'))
        .map((r) => JSON.stringify(r))
        .join('\n'),
    ).not.toContain('secret-person');
  }, 90_000);
});

describe('start-up errors', () => {
  it('a port in use is said in one line, before the database and the workers start', async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(port, r));
    try {
      const err = await startServiceProcess({
        databaseUrl: 'postgres://nobody@127.0.0.1:9/none',
        smtpUrl: 'smtp://127.0.0.1:9',
        name: 'busy-port',
        env: { PORT: String(port) },
      }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toContain(`start-up failed: port ${port} is in use (set PORT to another one)`);
      // said before it tried the (unreachable) database
      expect(err?.message).not.toMatch(/database: external PostgreSQL/);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  }, 60_000);
});

describe('start-up errors: the database', () => {
  it('an unreachable DATABASE_URL is said once, as the database, not as a migration', async () => {
    const err = await startServiceProcess({ databaseUrl: 'postgres://nobody@127.0.0.1:9/none', smtpUrl: 'smtp://127.0.0.1:9', name: 'no-db' }).then(
      () => undefined,
      (e: Error) => e,
    );
    const line = err?.message.split('\n').find((l) => l.includes('start-up failed:'));
    expect(line).toMatch(/start-up failed: database not reachable: connect ECONNREFUSED 127\.0\.0\.1:9$/);
    expect(err?.message).not.toContain('migration (unknown)');
  }, 60_000);
});
