import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/logger.ts';
import { createDirectTransport } from '../../src/modules/delivery/direct-transport.ts';
import { startTestDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { finishedRequestRow, startTestService, type TestService, waitFor } from '../helpers/test-service.ts';

// SMTP_URL=direct through the whole service: a DNS server on loopback answers MX/A/AAAA from
// tables edited here, and SMTP sinks on 127.0.0.2-5 (Linux routes all of 127/8 to loopback), all
// on one port (DIRECT_SMTP_PORT), stand for the domains' mail hosts. Nothing listens on 127.0.0.9.

let dns: TestDnsServer;
let svc: TestService;
/** 127.0.0.2 */
let primary: TestSink;
/** 127.0.0.3, offers STARTTLS (smtp-server's self-signed certificate) */
let tlsHost: TestSink;
/** 127.0.0.4 */
let secondary: TestSink;
/** 127.0.0.5 */
let busyHost: TestSink;
const REFUSING = '127.0.0.9';

/** A domain's MX hosts, each name given its address. */
function route(domain: string, hosts: [priority: number, name: string, address: string][]): void {
  dns.mx.set(
    domain,
    hosts.map(([priority, exchange]) => ({ priority, exchange })),
  );
  for (const [, name, address] of hosts) dns.a.set(name, [address]);
}

beforeAll(async () => {
  dns = await startTestDnsServer();
  primary = await startTestSink({ host: '127.0.0.2' });
  const port = primary.port;
  tlsHost = await startTestSink({ host: '127.0.0.3', port, starttls: true });
  secondary = await startTestSink({ host: '127.0.0.4', port });
  busyHost = await startTestSink({ host: '127.0.0.5', port });
  svc = await startTestService({
    smtpUrl: 'direct',
    env: {
      DNS_SERVERS: dns.server,
      // the sinks stand for the domains' hosts on 127.0.0.2-5; by default such addresses are no hosts (SSRF)
      DIRECT_ALLOW_PRIVATE: 'true',
      DIRECT_SMTP_PORT: String(port),
      DIRECT_HELO_NAME: 'mailer.example.net',
      RETRY_LIMIT: '5',
      RETRY_BASE_DELAY_MS: '200',
    },
  });
});

afterAll(async () => {
  await svc?.stop();
  await Promise.all([primary, tlsHost, secondary, busyHost].map((s) => s?.close()));
  await dns?.close();
});

afterEach(() => {
  for (const s of [primary, tlsHost, secondary, busyHost]) s.reset();
});

type Recipient = { address: string; status: { code: string }; sendResultCode: string; sendResultMessage: string | null; temporaryResultCode: string | null };

async function post(recipients: string[], individual = true): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', {
    body: {
      senderAddress: 'news@company.com',
      title: 'Direct',
      body: '<p>hello</p>',
      recipients: recipients.map((address) => ({ address, type: 'R' })),
      individual,
    },
  });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

async function recipientsOf(requestId: string): Promise<Recipient[]> {
  const mails = (await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=100`)).body.content as { mailId: string }[];
  const details = await Promise.all(mails.map(async (m) => (await svc.call('GET', `/api/v1/mails/${m.mailId}`)).body));
  return details.flatMap((d) => d.recipients as Recipient[]);
}

/** Sends and waits for the request to finish; its recipients by address. */
async function send(recipients: string[], individual = true): Promise<Map<string, Recipient>> {
  const requestId = await post(recipients, individual);
  await finishedRequestRow(svc, requestId);
  return new Map((await recipientsOf(requestId)).map((r) => [r.address, r]));
}

describe('direct delivery: SSRF', () => {
  it('by default an MX on a loopback or private address is no host: nothing connects there, the recipient fails as undeliverable', async () => {
    const strict = await startTestService({
      smtpUrl: 'direct',
      env: { DNS_SERVERS: dns.server, DIRECT_SMTP_PORT: String(primary.port), RETRY_LIMIT: '1', RETRY_BASE_DELAY_MS: '100' },
    });
    try {
      route('inside.example', [[10, 'mx.inside.example', '127.0.0.2']]);
      const res = await strict.call('POST', '/api/v1/mails', {
        body: { senderAddress: 'news@company.com', title: 'T', body: '<p>b</p>', recipients: [{ address: 'a@inside.example', type: 'R' }] },
      });
      expect(res.status).toBe(201);
      await finishedRequestRow(strict, res.body.requestId as string);
      const rows = await strict.db.db.selectFrom('recipients').select(['status', 'result_code']).execute();
      expect(rows).toEqual([{ status: 'F', result_code: 'NONEXISTENT_DOMAIN_ADDRESS' }]);
      expect(primary.messages).toHaveLength(0);
    } finally {
      await strict.stop();
    }
  });
});

describe('direct delivery: routes', () => {
  it('delivers to the MX host of lowest preference', async () => {
    route('pref.example', [
      [20, 'backup.pref.example', '127.0.0.4'],
      [10, 'mx.pref.example', '127.0.0.2'],
    ]);
    const results = await send(['a@pref.example', 'b@pref.example', 'c@pref.example']);
    for (const r of results.values()) expect(r).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(primary.messages.flatMap((m) => m.to).sort()).toEqual(['a@pref.example', 'b@pref.example', 'c@pref.example']);
    expect(secondary.messages).toHaveLength(0);
    expect(primary.messages[0]!.helo).toBe('mailer.example.net');
  });

  it('moves on to the next host when the first refuses connections', async () => {
    route('down.example', [
      [10, 'dead.down.example', REFUSING],
      [20, 'alive.down.example', '127.0.0.4'],
    ]);
    const results = await send(['x@down.example']);
    expect(results.get('x@down.example')).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(secondary.messages.map((m) => m.to)).toEqual([['x@down.example']]);
  });

  it('moves on to the next host when the first answers 421 at its greeting', async () => {
    busyHost.refuseGreeting({ code: 421, message: '4.3.2 too busy, try later' });
    route('busy.example', [
      [5, 'busy.busy.example', '127.0.0.5'],
      [50, 'calm.busy.example', '127.0.0.2'],
    ]);
    const results = await send(['y@busy.example']);
    expect(results.get('y@busy.example')).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(busyHost.connectionCount()).toBeGreaterThan(0);
    expect(busyHost.messages).toHaveLength(0);
    expect(primary.messages.map((m) => m.to)).toEqual([['y@busy.example']]);
  });

  it('a domain without MX receives at its own address (implicit MX)', async () => {
    dns.a.set('nomx.example', ['127.0.0.4']);
    const results = await send(['z@nomx.example']);
    expect(results.get('z@nomx.example')).toMatchObject({ status: { code: 'S' } });
    expect(secondary.messages.map((m) => m.to)).toEqual([['z@nomx.example']]);
  });

  it('a null MX, a domain that does not exist and one with no address fail at once as NONEXISTENT_DOMAIN_ADDRESS', async () => {
    dns.mx.set('nullmx.example', [{ priority: 0, exchange: '.' }]);
    dns.nxdomain.add('nx.example');
    // exists (NODATA for every type) but has no MX, A or AAAA
    const results = await send(['a@nullmx.example', 'b@nx.example', 'c@empty.example']);
    for (const [address, detail] of [
      ['a@nullmx.example', /null MX/],
      ['b@nx.example', /NXDOMAIN/],
      ['c@empty.example', /no MX, A or AAAA/],
    ] as const) {
      const r = results.get(address)!;
      expect(r).toMatchObject({ status: { code: 'F' }, sendResultCode: 'NONEXISTENT_DOMAIN_ADDRESS' });
      expect(r.sendResultMessage).toMatch(detail);
    }
    expect([primary, tlsHost, secondary, busyHost].flatMap((sink) => sink.messages)).toHaveLength(0);
  });

  it('a DNS failure (SERVFAIL) is temporary: retried, then delivered once DNS answers', async () => {
    route('flaky.example', [[10, 'mx.flaky.example', '127.0.0.2']]);
    dns.servfail.add('flaky.example');
    const requestId = await post(['f@flaky.example']);
    const waiting = await waitFor(
      async () => (await recipientsOf(requestId)).find((r) => r.status.code === 'I' && r.sendResultCode === 'RESENDING_MAIL'),
      15_000,
      'the recipient to wait for a retry',
    );
    expect(waiting.temporaryResultCode).toBe('CONNECTION_ABNORMAL');
    expect(waiting.sendResultMessage).toMatch(/ESERVFAIL/);
    dns.servfail.delete('flaky.example');
    await finishedRequestRow(svc, requestId);
    const [done] = await recipientsOf(requestId);
    expect(done).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(primary.messages.map((m) => m.to)).toEqual([['f@flaky.example']]);
  });
});

describe('direct delivery: transactions', () => {
  it('a general mail to two domains goes in one transaction per domain, each to its own host, with results per recipient', async () => {
    route('one.example', [[10, 'mx.one.example', '127.0.0.2']]);
    route('two.example', [[10, 'mx.two.example', '127.0.0.4']]);
    const results = await send(['a@one.example', 'c@two.example', 'b@one.example'], false);
    expect([...results.values()].map((r) => [r.address, r.status.code])).toEqual(
      expect.arrayContaining([
        ['a@one.example', 'S'],
        ['b@one.example', 'S'],
        ['c@two.example', 'S'],
      ]),
    );
    expect(primary.transactions).toEqual([['a@one.example', 'b@one.example']]);
    expect(secondary.transactions).toEqual([['c@two.example']]);
    // the same message (one Message-ID) to both
    const id = (raw: Buffer) => /^Message-ID: (.+)$/im.exec(raw.toString('latin1'))?.[1];
    expect(id(primary.messages[0]!.raw)).toBeTruthy();
    expect(id(primary.messages[0]!.raw)).toBe(id(secondary.messages[0]!.raw));
    expect(results.get('a@one.example')!.sendResultMessage).toMatch(/one\.example: 250/);
  });

  it('a 550 for one recipient and a 250 for another in the same transaction', async () => {
    route('mixed.example', [[10, 'mx.mixed.example', '127.0.0.2']]);
    primary.onRcpt((address) => (address.startsWith('gone@') ? 'reject' : 'accept'));
    const results = await send(['ok@mixed.example', 'gone@mixed.example'], false);
    expect(results.get('ok@mixed.example')).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(results.get('gone@mixed.example')).toMatchObject({ status: { code: 'F' }, sendResultCode: 'RECIPIENT_ADDRESS_ERROR' });
    expect(results.get('gone@mixed.example')!.sendResultMessage).toMatch(/^550 5\.1\.1/);
    expect(primary.transactions).toEqual([['ok@mixed.example']]);
  });

  it('uses STARTTLS when the host offers it (any certificate)', async () => {
    route('tls.example', [[10, 'mx.tls.example', '127.0.0.3']]);
    const results = await send(['t@tls.example']);
    expect(results.get('t@tls.example')).toMatchObject({ status: { code: 'S' } });
    expect(tlsHost.messages).toHaveLength(1);
    expect(tlsHost.messages[0]!.secure).toBe(true);
    // a host that does not offer it still gets the mail in the clear
    expect(primary.messages.every((m) => !m.secure)).toBe(true);
  });
});

describe('direct transport', () => {
  it('signs a mail to several domains once, built once: each domain gets the same DKIM-signed bytes', async () => {
    route('signed-a.example', [[10, 'mx.signed-a.example', '127.0.0.2']]);
    route('signed-b.example', [[10, 'mx.signed-b.example', '127.0.0.4']]);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const transport = createDirectTransport({
      port: primary.port,
      heloName: 'mailer.example.net',
      dnsServers: [dns.server],
      allowPrivate: true,
      maxConnectionsPerHost: 1,
      timeoutMs: 3000,
      logger: createLogger('silent'),
    });
    try {
      const info = await transport.sendMail({
        from: 'news@company.com',
        to: 'list@company.com',
        subject: 'signed',
        text: 'hello',
        envelope: { from: 'news@company.com', to: ['a@signed-a.example', 'b@signed-b.example'] },
        dkimSigning: { algorithm: 'rsa-sha256', domainName: 'company.com', keySelector: 'sel', privateKey },
      });
      expect(info.accepted).toEqual(['a@signed-a.example', 'b@signed-b.example']);
    } finally {
      transport.close();
    }
    const [a, b] = [primary.messages[0]!.raw.toString('latin1'), secondary.messages[0]!.raw.toString('latin1')];
    expect(a.match(/^DKIM-Signature:/gim)).toHaveLength(1);
    expect(a).toBe(b);
  });
});
