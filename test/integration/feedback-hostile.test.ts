import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { createLogger } from '../../src/logger.ts';
import { verpKeyFor } from '../../src/modules/feedback/feedback.service.ts';
import { MAX_CONNECTIONS_PER_ADDRESS, startInboundServer } from '../../src/modules/feedback/inbound-server.ts';
import { openVerpAddress } from '../../src/modules/feedback/verp.ts';
import type { SmtpListener } from '../../src/shared/smtp-listener.ts';
import { expectError } from '../helpers/responses.ts';
import { finishedRequestRow, waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * The bounce and complaint listener and the feedback view filters as a hostile or broken MTA, a
 * forger or a careless API user would meet them (issue 15): raw SMTP on loopback (pipelining,
 * RSET, BDAT, disconnects, concurrency, size limits, odd tokens and bytes) and odd HTTP filter
 * values. Every assertion counts outcomes; none measures time.
 */

const BOUNCE_DOMAIN = 'bounces.example.test';
const MAX_BYTES = 8 * 1024;
const { svc, sink } = useTestService({
  env: { BOUNCE_DOMAIN, WEBHOOK_ALLOW_PRIVATE: 'true', INBOUND_MAX_BYTES: String(256 * 1024) },
});
let inbound: SmtpListener;
/** A second listener with a small INBOUND_MAX_BYTES, for the size boundary. */
let small: SmtpListener;
let webhookId: string;

beforeAll(async () => {
  const deps = { config: svc.config, db: svc.db.db, logger: createLogger('silent'), now: () => new Date() };
  inbound = await startInboundServer(deps, { host: '127.0.0.1', port: 0 });
  small = await startInboundServer({ ...deps, config: { ...svc.config, inboundMaxBytes: MAX_BYTES } }, { host: '127.0.0.1', port: 0 });
  // An endpoint for every feedback event: counting its deliveries counts the events written.
  const hook = await svc.call('POST', '/api/v1/webhooks', { body: { url: 'http://127.0.0.1:9/hook', events: ['recipient.bounced', 'recipient.complained'] } });
  expect(hook.status).toBe(201);
  webhookId = String(hook.body.webhookId);
});

afterAll(async () => {
  await inbound?.close();
  await small?.close();
});

/** A plain SMTP client on a socket: every byte as the test writes it, replies read one by one. */
let nextSource = 0;

class RawSmtp {
  private buffer = '';
  private waiting: (() => void) | undefined;
  closed = false;
  readonly socket: net.Socket;
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => {});
  }

  /**
   * A connection from `localAddress`, by default from one of 250 loopback addresses in turn: many
   * MTAs, as the listener sees them (it limits connections per client address).
   */
  static async open(port: number, localAddress = `127.0.1.${(nextSource++ % 250) + 1}`): Promise<RawSmtp> {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawSmtp(socket);
    expect(await c.reply()).toMatch(/^220 /);
    return c;
  }

  /** The next complete reply (multi-line replies joined), or '' once the server has closed. */
  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return '';
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
      this.waiting = undefined;
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** DATA with `raw` (dot-stuffed here, as a client must); the reply after the final dot. */
  async data(raw: string | Buffer): Promise<string> {
    const go = await this.cmd('DATA');
    if (!go.startsWith('354')) return go;
    this.write(Buffer.concat([stuff(raw), Buffer.from('\r\n.\r\n')]));
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Dot-stuffing: a line that starts with "." gets another. */
const stuff = (raw: string | Buffer) =>
  Buffer.from(
    Buffer.from(raw)
      .toString('latin1')
      .replace(/(^|\r\n)\./g, '$1..'),
    'latin1',
  );

/** One whole transaction on a fresh connection: EHLO, MAIL FROM:<>, RCPT TO each, DATA. The last reply. */
async function deliver(to: string | string[], raw: string | Buffer, port = inbound.port): Promise<string> {
  const c = await RawSmtp.open(port);
  try {
    await c.cmd('EHLO mx.example.net');
    await c.cmd('MAIL FROM:<>');
    let accepted = 0;
    let last = '';
    for (const rcpt of Array.isArray(to) ? to : [to]) {
      last = await c.cmd(`RCPT TO:<${rcpt}>`);
      if (last.startsWith('250')) accepted++;
    }
    if (!accepted) return last;
    const answer = await c.data(raw);
    await c.cmd('QUIT');
    return answer;
  } finally {
    c.close();
  }
}

const idOf = (requestId: string) => String(BigInt(requestId.slice(8)));

/** Sends a request and waits for it to finish; its recipients (by address) with their return paths. */
async function send(addresses: string[], extra: Record<string, unknown> = {}) {
  const res = await svc.call('POST', '/api/v1/mails', {
    body: { senderAddress: 'news@company.com', title: 'T', body: '<p>b</p>', recipients: addresses.map((address) => ({ address })), ...extra },
  });
  expect(res.status).toBe(201);
  const requestId = res.body.requestId as string;
  await finishedRequestRow(svc, requestId);
  const key = verpKeyFor(svc.config);
  const rows = await recipientRows(requestId);
  const pathOf = new Map<string, string>();
  await waitFor(async () => {
    for (const m of sink.messages) {
      const opened = openVerpAddress(key, BOUNCE_DOMAIN, m.from);
      if (opened.ok) pathOf.set(opened.recipientId, m.from);
    }
    return rows.every((r) => pathOf.has(String(r.id)) || extra.individual === false);
  });
  return { requestId, rows, path: (address: string) => pathOf.get(String(rows.find((r) => r.address === address)!.id))! };
}

const recipientRows = (requestId: string) =>
  svc.db.db
    .selectFrom('recipients')
    .select(['id', 'address', 'status', 'result_code', 'result_message', 'bounce_type', 'bounce_status', 'bounce_message', 'complaint_type'])
    .where('request_id', '=', idOf(requestId))
    .orderBy('id')
    .execute();

const requestStatus = async (requestId: string) =>
  (await svc.db.db.selectFrom('mail_requests').select('status').where('id', '=', idOf(requestId)).executeTakeFirstOrThrow()).status;

/** The webhook events written for a recipient. */
async function eventsOf(recipientId: string | number): Promise<string[]> {
  const rows = await svc.db.db
    .selectFrom('webhook_deliveries')
    .select('event_type')
    .where('webhook_id', '=', webhookId)
    .where('subject_id', '=', String(recipientId))
    .execute();
  return rows.map((r) => r.event_type);
}

/** An RFC 3464 report about `rcpts`, as Postfix writes one. */
function dsn(rcpts: { address: string; action?: string; status: string; diagnostic?: string }[], extraHeaders: string[] = []): string {
  const blocks = rcpts
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${r.address}`,
        `Original-Recipient: rfc822;${r.address}`,
        `Action: ${r.action ?? 'failed'}`,
        `Status: ${r.status}`,
        'Remote-MTA: dns; mx.example.net',
        ...(r.diagnostic !== undefined ? [`Diagnostic-Code: smtp; ${r.diagnostic}`] : []),
      ].join('\r\n'),
    )
    .join('\r\n\r\n');
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    ...extraHeaders,
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
    '',
    '--B1',
    'Content-Type: text/plain',
    '',
    'Your message could not be delivered.',
    '--B1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    blocks,
    '',
    '--B1',
    'Content-Type: text/rfc822-headers',
    '',
    'From: news@company.com',
    'Subject: T',
    '',
    '--B1--',
    '',
  ].join('\r\n');
}

function arf(returnPath: string, rcpt: string, feedbackType = 'abuse'): string {
  return [
    'From: feedback@fbl.example.net',
    'Subject: FW: T',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="F1"',
    '',
    '--F1',
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    '--F1',
    'Content-Type: message/feedback-report',
    '',
    `Feedback-Type: ${feedbackType}`,
    'User-Agent: ExampleFBL/1.0',
    'Version: 1',
    `Original-Rcpt-To: ${rcpt}`,
    '',
    '--F1',
    'Content-Type: message/rfc822',
    '',
    `Return-Path: <${returnPath}>`,
    'From: news@company.com',
    `To: ${rcpt}`,
    'Subject: T',
    '',
    'b',
    '--F1--',
    '',
  ].join('\r\n');
}

describe('SMTP sessions', () => {
  it('pipelined commands get one reply each, in order, and the report applies', async () => {
    const sent = await send(['pipe@example.com']);
    const c = await RawSmtp.open(inbound.port);
    expect(await c.cmd('EHLO mx.example.net')).toMatch(/PIPELINING/);
    const body = dsn([{ address: 'pipe@example.com', status: '5.1.1' }]);
    c.write(`MAIL FROM:<>\r\nRCPT TO:<nobody@${BOUNCE_DOMAIN}>\r\nRCPT TO:<${sent.path('pipe@example.com')}>\r\nDATA\r\n`);
    expect([await c.reply(), await c.reply(), await c.reply(), await c.reply()].map((r) => r.slice(0, 3))).toEqual(['250', '550', '250', '354']);
    c.write(Buffer.concat([stuff(body), Buffer.from('\r\n.\r\nQUIT\r\n')]));
    expect(await c.reply()).toMatch(/^250 .*hard bounce/);
    expect(await c.reply()).toMatch(/^221/);
    c.close();
    expect((await recipientRows(sent.requestId))[0]).toMatchObject({ status: 'F', bounce_type: 'H' });
  });

  it('RSET and a second transaction on one connection see only their own recipients', async () => {
    const sent = await send(['first@example.com', 'second@example.com']);
    const c = await RawSmtp.open(inbound.port);
    await c.cmd('EHLO mx.example.net');
    await c.cmd('MAIL FROM:<>');
    expect(await c.cmd(`RCPT TO:<${sent.path('first@example.com')}>`)).toMatch(/^250/);
    expect(await c.cmd('RSET')).toMatch(/^250/);
    // Without MAIL FROM again, RCPT is out of sequence: the reset forgot the transaction.
    expect(await c.cmd(`RCPT TO:<${sent.path('second@example.com')}>`)).toMatch(/^503/);
    await c.cmd('MAIL FROM:<>');
    expect(await c.cmd(`RCPT TO:<${sent.path('second@example.com')}>`)).toMatch(/^250/);
    // One failure in the report and one recipient in the transaction: the alias rule would apply it to "first" too if it were still there.
    expect(await c.data(dsn([{ address: 'other-name@example.com', status: '5.1.1' }]))).toMatch(/^250 .*hard bounce/);
    // A third transaction after a completed one: it has no recipients of its own.
    await c.cmd('MAIL FROM:<>');
    expect(await c.cmd('DATA')).toMatch(/^503/);
    c.close();
    const rows = await recipientRows(sent.requestId);
    expect(rows.map((r) => [r.address, r.status, r.bounce_type])).toEqual([
      ['first@example.com', 'S', null],
      ['second@example.com', 'F', 'H'],
    ]);
  });

  it('BDAT (not offered) is refused and the connection goes on; SMTPUTF8 and 8BITMIME parameters are taken', async () => {
    const sent = await send(['utf8@example.com']);
    const c = await RawSmtp.open(inbound.port);
    const ehlo = await c.cmd('EHLO mx.example.net');
    expect(ehlo).not.toMatch(/CHUNKING/);
    await c.cmd('MAIL FROM:<>');
    expect(await c.cmd(`RCPT TO:<${sent.path('utf8@example.com')}>`)).toMatch(/^250/);
    expect(await c.cmd('BDAT 5 LAST')).toMatch(/^5\d\d/);
    // the chunk it would have announced is read as a command line (and refused), then RSET brings the session back
    expect(await c.cmd('hello')).toMatch(/^5\d\d/);
    expect(await c.cmd('RSET')).toMatch(/^250/);
    expect(await c.cmd('NOOP')).toMatch(/^250/);
    expect(await c.cmd('MAIL FROM:<> BODY=8BITMIME SMTPUTF8')).toMatch(/^250/);
    // An internationalised (and not ours) recipient is refused; ours, upper-cased, is taken.
    expect(await c.cmd(`RCPT TO:<ünïcödé@${BOUNCE_DOMAIN}>`)).toMatch(/^550/);
    expect(await c.cmd(`RCPT TO:<${sent.path('utf8@example.com').toUpperCase()}>`)).toMatch(/^250/);
    const body = Buffer.from(dsn([{ address: 'utf8@example.com', status: '5.1.1', diagnostic: '550 5.1.1 Benutzer unbekannt: ünïcödé 用户不存在' }]), 'utf8');
    expect(await c.data(body)).toMatch(/^250 .*hard bounce/);
    c.close();
    expect((await recipientRows(sent.requestId))[0]).toMatchObject({ bounce_type: 'H', bounce_message: '550 5.1.1 Benutzer unbekannt: ünïcödé 用户不存在' });
  });

  it(`a message of exactly INBOUND_MAX_BYTES is read; one byte more is refused with 552`, async () => {
    const sent = await send(['edge@example.com', 'over@example.com']);
    const sized = (address: string, size: number) => {
      const base = dsn([{ address, status: '5.1.1' }], ['X-Pad: ']);
      // the DATA as smtp-server counts it: the message and the CRLF before the final dot
      const pad = size - Buffer.byteLength(base) - 2;
      const raw = base.replace('X-Pad: ', `X-Pad: ${'p'.repeat(pad)}`);
      expect(Buffer.byteLength(raw) + 2).toBe(size);
      return raw;
    };
    expect(await deliver(sent.path('edge@example.com'), sized('edge@example.com', MAX_BYTES), small.port)).toMatch(/^250 .*hard bounce/);
    expect(await deliver(sent.path('over@example.com'), sized('over@example.com', MAX_BYTES + 1), small.port)).toMatch(/^552/);
    const rows = await recipientRows(sent.requestId);
    expect(rows.map((r) => r.bounce_type)).toEqual(['H', null]);
  });

  it('a client that goes away in the middle of DATA applies nothing; one that goes away after the final dot gets its report applied once', async () => {
    const sent = await send(['mid@example.com', 'dot@example.com']);
    const mid = await RawSmtp.open(inbound.port);
    await mid.cmd('EHLO x');
    await mid.cmd('MAIL FROM:<>');
    await mid.cmd(`RCPT TO:<${sent.path('mid@example.com')}>`);
    await mid.cmd('DATA');
    const body = dsn([{ address: 'mid@example.com', status: '5.1.1' }]);
    mid.write(body.slice(0, body.length - 40));
    mid.close();

    const dot = await RawSmtp.open(inbound.port);
    await dot.cmd('EHLO x');
    await dot.cmd('MAIL FROM:<>');
    await dot.cmd(`RCPT TO:<${sent.path('dot@example.com')}>`);
    await dot.cmd('DATA');
    dot.write(Buffer.concat([stuff(dsn([{ address: 'dot@example.com', status: '5.1.1' }])), Buffer.from('\r\n.\r\n')]));
    dot.socket.end();
    dot.close();

    const dotId = sent.rows.find((r) => r.address === 'dot@example.com')!.id;
    await waitFor(async () => (await eventsOf(dotId)).length > 0, 15_000, 'the report sent before the disconnect');
    // The listener is still there, and a second copy of the report (the MTA never saw our 250) is a duplicate.
    expect(await deliver(sent.path('dot@example.com'), dsn([{ address: 'dot@example.com', status: '5.1.1' }]))).toMatch(/^250 .*ignored/);
    const rows = await recipientRows(sent.requestId);
    expect(rows.map((r) => [r.address, r.status, r.bounce_type])).toEqual([
      ['mid@example.com', 'S', null],
      ['dot@example.com', 'F', 'H'],
    ]);
    expect(await eventsOf(dotId)).toEqual(['recipient.bounced']);
  });

  it('300 concurrent connections are all served', async () => {
    const sent = await send(['crowd@example.com']);
    const replies = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const c = await RawSmtp.open(inbound.port);
        const r = await c.cmd('EHLO crowd');
        await c.cmd('QUIT');
        c.close();
        return r.slice(0, 3);
      }),
    );
    expect(replies.filter((r) => r !== '250')).toEqual([]);
    expect(await deliver(sent.path('crowd@example.com'), dsn([{ address: 'crowd@example.com', status: '5.1.1' }]))).toMatch(/^250 .*hard bounce/);
  });
});

describe('concurrent reports', () => {
  it('the same hard DSN 50 times at once: one change, 49 ignored, one event, one send-block entry', async () => {
    const sent = await send(['dup@example.com']);
    const body = dsn([{ address: 'dup@example.com', status: '5.1.1', diagnostic: '550 5.1.1 user unknown' }]);
    const replies = await Promise.all(Array.from({ length: 50 }, () => deliver(sent.path('dup@example.com'), body)));
    expect(replies.filter((r) => /hard bounce/.test(r))).toHaveLength(1);
    expect(replies.filter((r) => /ignored/.test(r))).toHaveLength(49);
    expect(await eventsOf(sent.rows[0]!.id)).toEqual(['recipient.bounced']);
    const blocks = await svc.db.db.selectFrom('send_blocks').select('address').where('address', '=', 'dup@example.com').execute();
    expect(blocks).toHaveLength(1);
  });

  it('the same soft DSN 50 times at once: one change, one event (a sender that missed our 250 sends it again)', async () => {
    const sent = await send(['softdup@example.com']);
    const body = dsn([{ address: 'softdup@example.com', action: 'delayed', status: '4.2.2', diagnostic: '452 4.2.2 mailbox full' }]);
    const replies = await Promise.all(Array.from({ length: 50 }, () => deliver(sent.path('softdup@example.com'), body)));
    expect(replies.filter((r) => /soft bounce/.test(r))).toHaveLength(1);
    expect(replies.filter((r) => /ignored/.test(r))).toHaveLength(49);
    expect(await eventsOf(sent.rows[0]!.id)).toEqual(['recipient.bounced']);
    // A later delay with another status is news again.
    const later = dsn([{ address: 'softdup@example.com', action: 'delayed', status: '4.4.1', diagnostic: '451 4.4.1 no answer from host' }]);
    expect(await deliver(sent.path('softdup@example.com'), later)).toMatch(/^250 .*soft bounce/);
    expect(await eventsOf(sent.rows[0]!.id)).toHaveLength(2);
  });

  it('hard DSNs for every recipient of one request at once: all applied, and the request rolls up to F', async () => {
    const addresses = Array.from({ length: 40 }, (_, i) => `many${i}@example.com`);
    const sent = await send(addresses);
    const replies = await Promise.all(addresses.map((a) => deliver(sent.path(a), dsn([{ address: a, status: '5.1.1' }]))));
    expect(replies.filter((r) => !/^250 .*hard bounce/.test(r))).toEqual([]);
    const rows = await recipientRows(sent.requestId);
    expect(rows.filter((r) => r.status !== 'F' || r.bounce_type !== 'H')).toEqual([]);
    const mails = await svc.db.db.selectFrom('mails').select('status').where('request_id', '=', idOf(sent.requestId)).execute();
    expect(mails.filter((m) => m.status !== 'F')).toEqual([]);
    expect(await requestStatus(sent.requestId)).toBe('F');
  });
});

describe('tokens', () => {
  it('forged tags of every length and in every case are refused at RCPT; the real one in any case is taken', async () => {
    const sent = await send(['tags@example.com']);
    const real = sent.path('tags@example.com');
    const [local] = real.split('@') as [string];
    const id = local.split('-')[1]!;
    const c = await RawSmtp.open(inbound.port);
    await c.cmd('EHLO x');
    await c.cmd('MAIL FROM:<>');
    const refused: string[] = [];
    for (let n = 0; n <= 40; n++) {
      const tag = 'a'.repeat(n);
      const reply = await c.cmd(`RCPT TO:<b-${id}-${tag}@${BOUNCE_DOMAIN}>`);
      if (reply.startsWith('550')) refused.push(tag);
    }
    expect(refused).toHaveLength(41);
    for (const variant of [real.toUpperCase(), real.toLowerCase(), `${local.toUpperCase()}@${BOUNCE_DOMAIN.toUpperCase()}`]) {
      expect(await c.cmd(`RCPT TO:<${variant}>`)).toMatch(/^250/);
    }
    c.close();
  });

  it('one return path written two ways (a zero-padded id) is one recipient: a soft bounce is one event', async () => {
    const sent = await send(['padded@example.com']);
    const real = sent.path('padded@example.com');
    const padded = real.replace(/^b-/, 'b-0');
    // The padded form checked against the same tag and named the recipient a second time.
    const c = await RawSmtp.open(inbound.port);
    await c.cmd('EHLO x');
    await c.cmd('MAIL FROM:<>');
    expect(await c.cmd(`RCPT TO:<${padded}>`)).toMatch(/^550/);
    c.close();
    const replies = await deliver([real, padded], dsn([{ address: 'padded@example.com', action: 'delayed', status: '4.2.2' }]));
    expect(replies).toMatch(/^250 .*soft bounce/);
    expect(await eventsOf(sent.rows[0]!.id)).toEqual(['recipient.bounced']);
  });

  it('a report for a recipient purged by retention is accepted and ignored', async () => {
    const sent = await send(['purged@example.com']);
    const id = sent.rows[0]!.id;
    await svc.db.db.deleteFrom('recipients').where('id', '=', id).execute();
    expect(await deliver(sent.path('purged@example.com'), dsn([{ address: 'purged@example.com', status: '5.1.1' }]))).toMatch(/^250 .*ignored/);
    expect(await eventsOf(id)).toEqual([]);
  });

  it("a DSN to two tokens applies to each only what names it: one mail's failure is not another's", async () => {
    const sent = await send(['named@example.com', 'bystander@example.com']);
    const reply = await deliver([sent.path('named@example.com'), sent.path('bystander@example.com')], dsn([{ address: 'named@example.com', status: '5.1.1' }]));
    expect(reply).toMatch(/^250 .*hard bounce/);
    const rows = await recipientRows(sent.requestId);
    expect(rows.map((r) => [r.address, r.bounce_type])).toEqual([
      ['named@example.com', 'H'],
      ['bystander@example.com', null],
    ]);
  });

  it('a complaint through a token of another project marks that project only', async () => {
    const other = await svc.newKey('hostile-other');
    const res = await svc.call('POST', '/api/v1/mails', {
      key: other,
      body: { senderAddress: 'news@company.com', title: 'T', body: '<p>b</p>', recipients: [{ address: 'theirs@example.com' }] },
    });
    expect(res.status).toBe(201);
    await finishedRequestRow(svc, res.body.requestId, { key: other });
    const theirs = (await recipientRows(res.body.requestId))[0]!;
    const key = verpKeyFor(svc.config);
    const theirPath = await waitFor(async () =>
      sink.messages.map((m) => m.from).find((f) => (openVerpAddress(key, BOUNCE_DOMAIN, f) as { recipientId?: string }).recipientId === String(theirs.id)),
    );
    const mine = await send(['mine@example.com']);
    // The report says "mine" complained, but its quoted original carries the other project's token.
    expect(await deliver(`fbl@${BOUNCE_DOMAIN}`, arf(theirPath, 'mine@example.com'))).toMatch(/^250 .*complaint/);
    expect((await recipientRows(mine.requestId))[0]).toMatchObject({ complaint_type: null });
    expect((await recipientRows(res.body.requestId))[0]).toMatchObject({ complaint_type: 'abuse' });
    const mineList = await svc.call('GET', '/api/v1/unsubscribers');
    expect(JSON.stringify(mineList.body)).not.toContain('theirs@example.com');
  });
});

describe('limits that were design questions', () => {
  // A general mail (To/CC/BCC in one message) goes out as one transaction per recipient, each
  // from its own return path, and a report speaks for its token's recipient only: a recipient who
  // forges a DSN or an ARF naming another recipient (a BCC one included) changes nothing for them.
  it('a recipient of a general mail cannot bounce or unsubscribe a co-recipient', async () => {
    const sent = await send(['forger@example.com', 'victim@example.com'], { individual: false });
    const token = sink.messages.find((m) => m.to.includes('forger@example.com'))!.from;
    expect(sink.messages.find((m) => m.to.includes('victim@example.com'))!.from).not.toBe(token);
    await deliver(token, dsn([{ address: 'victim@example.com', status: '5.1.1' }]));
    await deliver(`fbl@${BOUNCE_DOMAIN}`, arf(token, 'victim@example.com'));
    const victim = (await recipientRows(sent.requestId)).find((r) => r.address === 'victim@example.com')!;
    expect(victim).toMatchObject({ status: 'S', bounce_type: null, complaint_type: null });
  });

  // Slowloris: one host holding 500 idle connections would lock every real MTA out until it let
  // go. A client address may hold MAX_CONNECTIONS_PER_ADDRESS at once; more get 421 at once.
  it('one client address cannot take every connection slot', async () => {
    const hogs = await Promise.all(Array.from({ length: 500 }, () => RawSmtp.open(inbound.port, '127.0.0.2').catch(() => undefined)));
    try {
      const sent = await send(['hogged@example.com']);
      expect(await deliver(sent.path('hogged@example.com'), dsn([{ address: 'hogged@example.com', status: '5.1.1' }]))).toMatch(/^250/);
      // All but the allowed few were turned away.
      await waitFor(
        async () => hogs.filter((h) => h && !h.closed).length <= MAX_CONNECTIONS_PER_ADDRESS || undefined,
        10_000,
        'the extra connections to close',
      );
    } finally {
      for (const h of hogs) h?.close();
    }
  });
});

describe('hostile report bodies', () => {
  it('a NUL byte in a Diagnostic-Code is stored without it, and does not fail the reports batched with it', async () => {
    const sent = await send(['nul@example.com', 'nulpeer@example.com']);
    const [nul, peer] = await Promise.all([
      deliver(sent.path('nul@example.com'), dsn([{ address: 'nul@example.com', status: '5.1.1', diagnostic: '550 5.1.1 bad\u0000user' }])),
      deliver(sent.path('nulpeer@example.com'), dsn([{ address: 'nulpeer@example.com', status: '5.1.1', diagnostic: '550 5.1.1 gone' }])),
    ]);
    expect({ nul: nul.slice(0, 3), peer: peer.slice(0, 3) }).toEqual({ nul: '250', peer: '250' });
    const rows = await recipientRows(sent.requestId);
    expect(rows.map((r) => [r.address, r.bounce_type, r.bounce_message])).toEqual([
      ['nul@example.com', 'H', '550 5.1.1 baduser'],
      ['nulpeer@example.com', 'H', '550 5.1.1 gone'],
    ]);
  });

  it('Action failed with Status 2.0.0 and invalid UTF-8 in the addresses neither crash nor fail the recipient', async () => {
    const sent = await send(['odd@example.com']);
    const raw = Buffer.concat([
      Buffer.from(
        dsn([{ address: 'odd@example.com', status: '2.0.0', diagnostic: '250 2.0.0 ok' }]).replace(
          'Original-Recipient: rfc822;odd@example.com',
          'Original-Recipient: rfc822;odd\u00ff',
        ),
        'latin1',
      ),
    ]);
    expect(await deliver(sent.path('odd@example.com'), raw)).toMatch(/^250/);
    expect((await recipientRows(sent.requestId))[0]).toMatchObject({ status: 'S', result_code: 'MAIL_SENT' });
  });
});

describe('view filters with odd values', () => {
  const LIST = '/api/v1/mails/recipients';
  it('answer 200 or a 400 naming the field, never a 500', async () => {
    const sent = await send(['filters@example.com']);
    const views = [LIST, '/api/v1/mails/requests', `/api/v1/mails/requests/${sent.requestId}/mails`];
    const good = ['bounceType=hard', 'bounceType=%20any%20', 'bounceType=ANY&complained=true'];
    const bad: [string, string][] = [
      ['bounceType=HARDER', 'bounceType'],
      [`bounceType=${'H'.repeat(4000)}`, 'bounceType'],
      ['bounceType=%E2%84%8Bard', 'bounceType'],
      ['bounceType=HARD%00', 'bounceType'],
      ['complained=1', 'complained'],
      // empty, as the validator refuses any empty parameter
      ['bounceType=', 'bounceType'],
      ['complained=', 'complained'],
      // the validator takes a boolean as "true" only
      ['complained=TRUE', 'complained'],
      ['complained=false', 'complained'],
      ['complained=%F0%9F%98%80', 'complained'],
      ['complained[a]=true', 'complained'],
      ['bounceType[]=HARD', 'bounceType'],
      // repeated: one value only
      ['bounceType=ANY&bounceType=SOFT', 'bounceType'],
      ['complained=true&complained=true', 'complained'],
    ];
    for (const view of views) {
      for (const q of good) {
        for (const more of ['', '&sort=statusCode,asc&page=1&size=1', '&sort=createUtc,desc&page=0&size=100']) {
          const res = await svc.call('GET', `${view}?${q}${more}`);
          expect({ view, q, more, status: res.status, error: res.body.error }).toEqual({ view, q, more, status: 200, error: undefined });
        }
      }
      for (const [q, field] of bad) {
        const res = await svc.call('GET', `${view}?${q}`);
        expect({ view, q, status: res.status }).toEqual({ view, q, status: 400 });
        expectError(res, '77102', field);
      }
    }
  });

  it('an export takes JSON booleans and strings for its filters, and names filters.<field> for anything else', async () => {
    for (const filters of [
      { complained: true },
      { complained: 'true' },
      { bounceType: 'soft' },
      { bounceType: '' },
      { bounceType: ['ANY'] },
      { bounceType: 'any', complained: true },
    ]) {
      const res = await svc.call('POST', '/api/v1/exports', { body: { view: 'recipients', filters } });
      expect({ filters, status: res.status, error: res.body.error }).toEqual({ filters, status: 202, error: undefined });
    }
    const bad: [Record<string, unknown>, string][] = [
      [{ complained: 1 }, 'filters.complained'],
      [{ complained: 'false' }, 'filters.complained'],
      [{ complained: { a: true } }, 'filters.complained'],
      [{ complained: [false] }, 'filters.complained'],
      [{ complained: [true] }, 'filters.complained'],
      // what the views refuse (complained=TRUE), an export refuses too
      [{ complained: 'TRUE' }, 'filters.complained'],
      [{ bounceType: true }, 'filters.bounceType'],
      [{ bounceType: { HARD: 1 } }, 'filters.bounceType'],
      [{ bounceType: [['HARD']] }, 'filters.bounceType'],
      [{ bounceType: 'x'.repeat(100_000) }, 'filters.bounceType'],
      [{ bounceType: 'HARD\u0000' }, 'filters.bounceType'],
    ];
    for (const [filters, field] of bad) {
      const res = await svc.call('POST', '/api/v1/exports', { body: { view: 'recipients', filters } });
      expect({ filters: JSON.stringify(filters).slice(0, 80), field, status: res.status }).toEqual({
        filters: JSON.stringify(filters).slice(0, 80),
        field,
        status: 400,
      });
      expectError(res, '77102', field);
    }
  });
});
