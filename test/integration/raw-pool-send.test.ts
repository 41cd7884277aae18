import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { SentMessageInfo, Transporter } from 'nodemailer';
import { composeNow } from '../../src/modules/delivery/compose-message.ts';
import { rawPoolSend } from '../../src/modules/delivery/raw-pool-send.ts';
import { createTransport } from '../../src/modules/delivery/transport.ts';
import type { MailTransport } from '../../src/modules/delivery/transport.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';

/**
 * rawPoolSend (raw-pool-send.ts): composed source with a plain envelope goes to nodemailer's pool
 * as it is, past sendMail; the relay gets what sendMail would have handed it, and errors are the pool's.
 */

type SmtpError = Error & { code?: string; responseCode?: number; rejectedErrors?: { recipient?: string; responseCode?: number }[] };

let sink: TestSink;
let transporter: Transporter;
let transport: MailTransport;
/** messages that took nodemailer's sendMail */
let viaSendMail = 0;
/** what the pool read of the messages rawPoolSend gave it: `data.x`, `message.x()`, `envelope.x` */
const read = new Set<string>();

/** The object, recording the properties read of it (and of what its methods return, for the envelope). */
function watched<T extends object>(target: T, prefix: string): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      if (typeof key === 'string') read.add(`${prefix}.${key}`);
      const value = Reflect.get(obj, key, receiver) as unknown;
      if (prefix === 'message' && key === 'getEnvelope') return () => watched((value as () => object).call(obj), 'envelope');
      return value;
    },
  });
}

beforeAll(async () => {
  sink = await startTestSink();
  transporter = createTransport({ url: sink.url, maxConnections: 2, timeoutMs: 2_000 });
  const sendMail = transporter.sendMail.bind(transporter) as (m: unknown) => Promise<SentMessageInfo>;
  (transporter as unknown as { sendMail: unknown }).sendMail = (m: unknown) => {
    viaSendMail++;
    return sendMail(m);
  };
  // what the pool reads of the messages it is given directly, recorded
  const pool = (transporter as unknown as { transporter: { send(mail: { data: object; message: object }, cb: unknown): void } }).transporter;
  const send = pool.send.bind(pool);
  // (rawPoolSend's own messages only: those sendMail compiled carry their options in data)
  pool.send = (mail, cb) => send(Object.keys(mail.data).length ? mail : { data: watched(mail.data, 'data'), message: watched(mail.message, 'message') }, cb);
  transport = rawPoolSend(transporter);
});
afterAll(async () => {
  transport.close();
  await sink.close();
});
beforeEach(() => {
  sink.reset();
  viaSendMail = 0;
});

const composed = (subject: string) =>
  composeNow({ from: 'Sender <sender@example.com>', to: 'rcpt@example.net', subject, html: '<p>héllo</p>', text: 'héllo' })!;

describe('rawPoolSend', () => {
  it('sends composed source with a plain envelope to the pool, past sendMail: the relay gets the bytes and envelope sendMail delivers', async () => {
    const { raw, messageId } = composed('direct');
    const envelope = { from: 'bounce+x=y@example.com', to: ['rcpt@example.net'] };
    const direct = (await transport.sendMail({ envelope, raw, messageId })) as SentMessageInfo;
    expect(viaSendMail).toBe(0);
    expect(direct.response).toMatch(/^250/);
    expect(direct.accepted).toEqual(['rcpt@example.net']);
    expect(direct.envelope).toEqual(envelope);
    expect(direct.messageId).toBe(messageId);
    // the same message through nodemailer's sendMail, for comparison
    const viaNodemailer = (await transporter.sendMail({ envelope, raw, messageId })) as SentMessageInfo;
    expect(viaNodemailer.response).toMatch(/^250/);
    const [first, second] = await sink.waitForMessages(2);
    expect(first!.raw.equals(raw)).toBe(true);
    expect(first!.raw.equals(second!.raw)).toBe(true);
    expect([first!.from, first!.to]).toEqual([second!.from, second!.to]);
    expect([first!.from, first!.to]).toEqual([envelope.from, envelope.to]);
    // All the pool read of the message: what rawPoolSend gives it, and options it leaves unset
    // (a nodemailer whose pool reads more must be looked at before this path is kept).
    const known = [
      'data.signal',
      'data.dsn',
      'data.requireTLSExtensionEnabled',
      'message.getEnvelope',
      'message.messageId',
      'message.getHeader',
      'message.createReadStream',
      'envelope.from',
      'envelope.to',
      // set, or read and left undefined, by nodemailer itself for an envelope of from and to
      'envelope.size',
      'envelope.use8BitMime',
      'envelope.dsn',
      'envelope.requireTLSExtensionEnabled',
      // the transaction's state SMTPConnection keeps on the envelope it is given
      'envelope.pipelined',
      'envelope.rcptQueue',
      'envelope.accepted',
      'envelope.mailError',
      'envelope.rejected',
      'envelope.rejectedErrors',
    ];
    expect([...read].filter((key) => !known.includes(key))).toEqual([]);
    expect(read.has('message.createReadStream')).toBe(true);
  });

  it('many messages at once through two connections: each delivered once, with its own bytes and envelope', async () => {
    const n = 300;
    const mails = Array.from({ length: n }, (_, i) => ({ i, ...composed(`many ${i}`) }));
    const sent = await Promise.all(
      mails.map(({ i, raw, messageId }) => transport.sendMail({ envelope: { from: 'sender@example.com', to: [`many${i}@example.net`] }, raw, messageId })),
    );
    expect(viaSendMail).toBe(0);
    expect(sent.every((info) => /^250/.test(String((info as SentMessageInfo).response)))).toBe(true);
    const got = await sink.waitForMessages(n);
    expect(got).toHaveLength(n);
    for (const message of got) {
      const i = Number(/^many(\d+)@/.exec(message.to[0]!)![1]);
      expect(message.to).toEqual([`many${i}@example.net`]);
      expect(message.raw.equals(mails[i]!.raw)).toBe(true);
    }
    expect(new Set(got.map((m) => m.to[0])).size).toBe(n);
    // the pool's two connections carried them all
    expect(sink.connectionCount()).toBeLessThanOrEqual(2);
  });

  it('source that does not end in a line break still ends the DATA right', async () => {
    const raw = Buffer.from('Subject: no break\r\nFrom: sender@example.com\r\n\r\nlast line\r\n.leading dot');
    await transport.sendMail({ envelope: { from: 'sender@example.com', to: ['rcpt@example.net'] }, raw });
    expect(viaSendMail).toBe(0);
    const [got] = await sink.waitForMessages(1);
    // the dot stuffing undone by the receiver, a line break added before the terminating dot
    expect(got!.raw.toString()).toBe(`${raw.toString()}\r\n`);
  });

  it('leaves to sendMail what nodemailer would normalise, or what is not composed source', async () => {
    const { raw } = composed('normalised');
    await transport.sendMail({ envelope: { from: 'sender@example.com', to: ['user@jõgeva.ee'] }, raw });
    await transport.sendMail({ envelope: { from: 'sender@example.com', to: ['a@example.net', 'b@example.net'] }, raw });
    await transport.sendMail({ envelope: { from: 'sender@Example.COM', to: ['rcpt@example.net'] }, raw });
    await transport.sendMail({ from: 'sender@example.com', to: 'rcpt@example.net', subject: 'not composed', text: 'x' });
    await transport.sendMail({ envelope: { from: 'sender@example.com', to: ['rcpt@example.net'], cc: ['cc@example.net'] } as never, raw });
    await transport.sendMail({ envelope: { from: 'sender@example.com', to: ['rcpt@example.net'] }, raw, headers: { 'X-Extra': '1' } });
    expect(viaSendMail).toBe(6);
    const got = await sink.waitForMessages(6);
    // (the sink shows domains lower-cased and decoded; what nodemailer sends is test/unit/raw-pool-send.test.ts's)
    expect(got.map((m) => [m.from, m.to])).toEqual([
      ['sender@example.com', ['user@jõgeva.ee']],
      ['sender@example.com', ['a@example.net', 'b@example.net']],
      ['sender@example.com', ['rcpt@example.net']],
      ['sender@example.com', ['rcpt@example.net']],
      ['sender@example.com', ['rcpt@example.net', 'cc@example.net']],
      ['sender@example.com', ['rcpt@example.net']],
    ]);
  });

  it("a refused recipient, or a refused message, fails as sendMail's would", async () => {
    const { raw } = composed('refused');
    sink.onRcpt((address) => (address.startsWith('gone') ? 'reject' : 'accept'));
    const refused = (mail: Parameters<MailTransport['sendMail']>[0], send = transport.sendMail.bind(transport)) =>
      send(mail).then(
        () => {
          throw new Error('expected a refusal');
        },
        (err: SmtpError) => ({ code: err.code, responseCode: err.responseCode, rejected: err.rejectedErrors?.map((e) => [e.recipient, e.responseCode]) }),
      );
    const envelope = { from: 'sender@example.com', to: ['gone@example.net'] };
    const direct = await refused({ envelope, raw });
    expect(viaSendMail).toBe(0);
    expect(direct).toEqual({ code: 'EENVELOPE', responseCode: 550, rejected: [['gone@example.net', 550]] });
    expect(await refused({ envelope, raw }, transporter.sendMail.bind(transporter))).toEqual(direct);

    sink.onRcpt(() => 'accept');
    sink.onData(() => ({ code: 552, message: '5.3.4 too big' }));
    const big = await refused({ envelope: { from: 'sender@example.com', to: ['rcpt@example.net'] }, raw });
    expect(big).toMatchObject({ code: 'EMESSAGE', responseCode: 552 });
    // the pool goes on over the same connections after the refusals (RSET, not a new connection)
    const connections = sink.connectionCount();
    sink.onData(() => 'accept');
    await transport.sendMail({ envelope: { from: 'sender@example.com', to: ['rcpt@example.net'] }, raw });
    await sink.waitForMessages(1);
    expect(sink.connectionCount()).toBe(connections);
  });

  it('a relay that refuses the connection fails the message with its reply', async () => {
    const { raw } = composed('greeting');
    const fresh = rawPoolSend(createTransport({ url: sink.url, maxConnections: 1, timeoutMs: 2_000 }));
    sink.refuseGreeting({ code: 421, message: '4.3.2 busy' });
    try {
      const err = (await fresh.sendMail({ envelope: { from: 'sender@example.com', to: ['rcpt@example.net'] }, raw }).catch((e: unknown) => e)) as SmtpError;
      expect(err).toBeInstanceOf(Error);
      expect(err.responseCode).toBe(421);
    } finally {
      sink.refuseGreeting(undefined);
      fresh.close();
    }
  });
});
