import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import nodemailer, { type Transporter } from 'nodemailer';
import { createLogger } from '../../src/logger.ts';
import { verpKeyFor } from '../../src/modules/feedback/feedback.service.ts';
import { startInboundServer } from '../../src/modules/feedback/inbound-server.ts';
import { openVerpAddress, verpAddress } from '../../src/modules/feedback/verp.ts';
import type { SmtpListener } from '../../src/shared/smtp-listener.ts';
import { FEEDBACK_FIXTURES, fixture } from '../fixtures/feedback/index.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// Bounces and complaints that come back after the relay said 250: the VERP return path, the
// inbound listener (a real SMTP server, fed over real SMTP), and what a report changes.

const BOUNCE_DOMAIN = 'bounces.example.test';
const { svc, sink } = useTestService({
  env: { BOUNCE_DOMAIN, WEBHOOK_ALLOW_PRIVATE: 'true', INBOUND_MAX_BYTES: String(256 * 1024) },
  resetSinkAfterEach: true,
});
let inbound: SmtpListener;
let client: Transporter;

beforeAll(async () => {
  inbound = await startInboundServer(
    { config: svc.config, db: svc.db.db, logger: createLogger('silent'), now: () => new Date() },
    { host: '127.0.0.1', port: 0 },
  );
  client = nodemailer.createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
});

afterAll(async () => {
  client?.close();
  await inbound?.close();
});

const idOf = (requestId: string) => String(BigInt(requestId.slice(8)));

/** Sends a request, waits for it to finish; returns its recipients' rows and their mails' return paths. */
async function send(body: Record<string, unknown>) {
  const res = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'news@company.com', title: 'T', body: '<p>b</p>', ...body } });
  expect(res.status).toBe(201);
  const requestId = res.body.requestId as string;
  await finishedRequestRow(svc, requestId);
  const rows = await recipients(requestId);
  return { requestId, rows, returnPaths: sink.messages.map((m) => m.from) };
}

const recipients = (requestId: string) =>
  svc.db.db
    .selectFrom('recipients')
    .select([
      'id',
      'address',
      'status',
      'result_code',
      'result_message',
      'bounce_type',
      'bounce_status',
      'bounce_message',
      'bounced_at',
      'complaint_type',
      'complained_at',
    ])
    .where('request_id', '=', idOf(requestId))
    .orderBy('id')
    .execute();

const requestStatus = async (requestId: string) =>
  (await svc.db.db.selectFrom('mail_requests').select('status').where('id', '=', idOf(requestId)).executeTakeFirstOrThrow()).status;

/** An RFC 3464 report as an MTA writes it, about `rcpts`. */
function dsn(rcpts: { address: string; action?: string; status: string; diagnostic?: string }[], originalReturnPath?: string): string {
  const blocks = rcpts
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${r.address}`,
        `Original-Recipient: rfc822;${r.address}`,
        `Action: ${r.action ?? 'failed'}`,
        `Status: ${r.status}`,
        'Remote-MTA: dns; mx.example.net',
        ...(r.diagnostic ? [`Diagnostic-Code: smtp; ${r.diagnostic}`] : []),
      ].join('\r\n'),
    )
    .join('\r\n\r\n');
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    'To: someone',
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
    '',
    '--B1',
    'Content-Type: text/plain',
    '',
    'I am sorry to inform you that your message could not be delivered.',
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
    ...(originalReturnPath ? [`Return-Path: <${originalReturnPath}>`] : []),
    'From: news@company.com',
    'Subject: T',
    '',
    '--B1--',
    '',
  ].join('\r\n');
}

function arf(originalReturnPath: string, rcpt: string): string {
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
    'Feedback-Type: abuse',
    'User-Agent: ExampleFBL/1.0',
    'Version: 1',
    `Original-Rcpt-To: ${rcpt}`,
    '',
    '--F1',
    'Content-Type: message/rfc822',
    '',
    `Return-Path: <${originalReturnPath}>`,
    'From: news@company.com',
    `To: ${rcpt}`,
    'Subject: T',
    '',
    'b',
    '--F1--',
    '',
  ].join('\r\n');
}

/** Delivers a report to the listener over SMTP as an MTA would (null sender); the listener's reply or error. */
async function report(to: string, raw: string | Buffer): Promise<{ ok: true; response: string } | { ok: false; code: number | undefined; response: string }> {
  try {
    const info = await client.sendMail({ envelope: { from: '', to }, raw });
    return { ok: true, response: String(info.response) };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, response: e.response ?? e.message };
  }
}

describe('VERP return paths', () => {
  it('each mail goes out from its recipient own return path on BOUNCE_DOMAIN, with a tag only the service can make', async () => {
    const sent = await send({ recipients: [{ address: 'a@example.com' }, { address: 'b@example.com' }] });
    expect(sent.returnPaths).toHaveLength(2);
    const key = verpKeyFor(svc.config);
    for (const path of sent.returnPaths) {
      expect(path).toMatch(/^b-[0-9a-z]+-[a-z2-7]{16}@bounces\.example\.test$/);
      const opened = openVerpAddress(key, BOUNCE_DOMAIN, path.toUpperCase());
      expect(opened.ok).toBe(true);
    }
    const ids = sent.returnPaths.map((p) => (openVerpAddress(key, BOUNCE_DOMAIN, p) as { recipientId: string }).recipientId).sort();
    expect(ids).toEqual(sent.rows.map((r) => String(r.id)).sort());
    // Headers are the sender's own: only the envelope changes.
    expect(sink.messages[0]!.raw.toString()).toMatch(/^From: news@company\.com/m);
  });
});

describe('the inbound listener', () => {
  it('a late hard bounce fails the sent recipient, blocks the address, and the request rolls up', async () => {
    const sent = await send({ recipients: [{ address: 'gone@example.com' }] });
    expect(await requestStatus(sent.requestId)).toBe('S');
    const diagnostic = '550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown in virtual mailbox table';
    const answer = await report(sent.returnPaths[0]!, dsn([{ address: 'gone@example.com', status: '5.1.1', diagnostic }]));
    expect(answer).toMatchObject({ ok: true, response: expect.stringMatching(/^250 .*hard bounce/) });
    const [row] = await recipients(sent.requestId);
    expect(row).toMatchObject({ status: 'F', result_code: 'RECIPIENT_ADDRESS_ERROR', result_message: diagnostic, bounce_type: 'H', bounce_status: '5.1.1' });
    expect(row!.bounced_at).toBeInstanceOf(Date);
    expect(await requestStatus(sent.requestId)).toBe('F');
    // The recipient view shows it, and its bounce filter finds it.
    const view = await svc.call('GET', '/api/v1/mails/recipients?recipientAddress=gone@example.com&bounceType=HARD');
    expect(view.status).toBe(200);
    expect(view.body.content).toEqual([
      expect.objectContaining({
        sendResultCode: 'RECIPIENT_ADDRESS_ERROR',
        bounceType: expect.objectContaining({ code: 'HARD' }),
        bounceStatus: '5.1.1',
        bounceMessage: diagnostic,
      }),
    ]);
    const blocked = await svc.call('GET', '/api/v1/send-block?targetAddress=gone@example.com');
    expect(blocked.body).toMatchObject({ registerStatus: 'Blocked' });
    // The next mail to the address is not sent.
    const again = await send({ recipients: [{ address: 'gone@example.com' }] });
    expect(again.rows[0]).toMatchObject({ status: 'F', result_code: 'SEND_BLOCK_ADDRESS' });
  });

  it('a soft bounce is recorded without failing or blocking; a later hard one still applies, and repeats change nothing', async () => {
    const sent = await send({ recipients: [{ address: 'full@example.com' }] });
    const path = sent.returnPaths[0]!;
    const soft = await report(path, dsn([{ address: 'full@example.com', action: 'delayed', status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full' }]));
    expect(soft).toMatchObject({ ok: true, response: expect.stringMatching(/soft bounce/) });
    expect((await recipients(sent.requestId))[0]).toMatchObject({ status: 'S', result_code: 'MAIL_SENT', bounce_type: 'S', bounce_status: '4.2.2' });
    expect((await svc.call('GET', '/api/v1/send-block?targetAddress=full@example.com')).body.registerStatus).not.toBe('Blocked');

    const hard = dsn([{ address: 'full@example.com', status: '5.2.1', diagnostic: '550 5.2.1 mailbox disabled' }]);
    expect(await report(path, hard)).toMatchObject({ ok: true, response: expect.stringMatching(/hard bounce/) });
    const after = (await recipients(sent.requestId))[0]!;
    expect(after).toMatchObject({ status: 'F', result_code: 'MAILBOX_ERROR', bounce_type: 'H', bounce_status: '5.2.1' });
    // The same report again (the MTA did not see our 250), and a soft one after the hard: ignored.
    expect(await report(path, hard)).toMatchObject({ ok: true, response: expect.stringMatching(/ignored/) });
    expect(await report(path, dsn([{ address: 'full@example.com', action: 'delayed', status: '4.2.2' }]))).toMatchObject({
      ok: true,
      response: expect.stringMatching(/ignored/),
    });
    expect((await recipients(sent.requestId))[0]).toEqual(after);
  });

  it('a general mail goes out once per recipient, each from its own return path; a bounce fails its recipient only, the mail and request become PF', async () => {
    const sent = await send({
      individual: false,
      recipients: [
        { address: 'keep@example.com', type: 'R' },
        { address: 'lost@example.com', type: 'R' },
      ],
    });
    // The same bytes (one message, both addresses in To:) in two transactions.
    expect(sink.messages.map((m) => m.to)).toEqual(expect.arrayContaining([['keep@example.com'], ['lost@example.com']]));
    expect(sink.messages[0]!.raw.equals(sink.messages[1]!.raw)).toBe(true);
    expect(new Set(sent.returnPaths).size).toBe(2);
    const lostPath = sink.messages.find((m) => m.to[0] === 'lost@example.com')!.from;
    const answer = await report(lostPath, dsn([{ address: 'Lost@Example.com', status: '5.1.1', diagnostic: '550 5.1.1 user unknown' }]));
    expect(answer.ok).toBe(true);
    const rows = await recipients(sent.requestId);
    expect(rows.find((r) => r.address === 'keep@example.com')).toMatchObject({ status: 'S', bounce_type: null });
    expect(rows.find((r) => r.address === 'lost@example.com')).toMatchObject({ status: 'F', bounce_type: 'H' });
    expect(await requestStatus(sent.requestId)).toBe('PF');
  });

  it('a complaint (ARF) to the feedback address marks the recipient, unsubscribes the address, and advertising skips it', async () => {
    const sent = await send({ recipients: [{ address: 'angry@example.com' }] });
    const answer = await report(`fbl@${BOUNCE_DOMAIN}`, arf(sent.returnPaths[0]!, 'angry@example.com'));
    expect(answer).toMatchObject({ ok: true, response: expect.stringMatching(/complaint/) });
    const [row] = await recipients(sent.requestId);
    expect(row).toMatchObject({ status: 'S', complaint_type: 'abuse' });
    expect(row!.complained_at).toBeInstanceOf(Date);
    const list = await svc.call('GET', '/api/v1/unsubscribers');
    expect(JSON.stringify(list.body)).toContain('angry@example.com');
    const ad = await send({ advertising: true, recipients: [{ address: 'angry@example.com' }] });
    expect(ad.rows[0]).toMatchObject({ status: 'U', result_code: 'UNSUBSCRIBE_ADDRESS' });
  });

  it('webhook endpoints get recipient.bounced and recipient.complained', async () => {
    const hook = await svc.call('POST', '/api/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/hook', events: ['recipient.bounced', 'recipient.complained'] },
    });
    expect(hook.status).toBe(201);
    const sent = await send({ recipients: [{ address: 'x1@example.com' }, { address: 'x2@example.com' }] });
    const [p1, p2] = sent.returnPaths;
    await report(p1!, dsn([{ address: 'x1@example.com', status: '5.1.1' }]));
    await report(`fbl@${BOUNCE_DOMAIN}`, arf(p2!, 'x2@example.com'));
    const events = await svc.db.db
      .selectFrom('webhook_deliveries')
      .select(['event_type', 'subject_id'])
      .where('webhook_id', '=', String(hook.body.webhookId))
      .orderBy('event_type')
      .execute();
    const ids = sent.rows.map((r) => String(r.id));
    expect(events.map((e) => [e.event_type, String(e.subject_id)]).sort()).toEqual(
      [
        ['recipient.bounced', ids[sent.rows.findIndex((r) => r.address === 'x1@example.com')]],
        ['recipient.complained', ids[sent.rows.findIndex((r) => r.address === 'x2@example.com')]],
      ].sort(),
    );
    await svc.call('DELETE', `/api/v1/webhooks/${hook.body.webhookId}`);
  });

  it('refuses unknown and forged return paths at RCPT, and reports without a valid token, applying nothing', async () => {
    const sent = await send({ recipients: [{ address: 'safe@example.com' }] });
    const real = sent.returnPaths[0]!;
    const forgedTag = real.replace(/-([a-z2-7]{16})@/, (_, tag: string) => `-${tag.slice(0, 15)}${tag.endsWith('a') ? 'b' : 'a'}@`);
    const otherId = verpAddress(Buffer.alloc(32, 7), BOUNCE_DOMAIN, '1'); // a well-formed address under another key
    const body = dsn([{ address: 'safe@example.com', status: '5.1.1' }]);
    for (const to of [forgedTag, otherId, `postmaster2@${BOUNCE_DOMAIN}`, 'someone@elsewhere.example', `b-zz@${BOUNCE_DOMAIN}`]) {
      expect(await report(to, body)).toMatchObject({ ok: false, code: 550 });
    }
    // To the feedback address, with no token in the quoted original: refused.
    expect(await report(`fbl@${BOUNCE_DOMAIN}`, dsn([{ address: 'safe@example.com', status: '5.1.1' }], 'news@company.com'))).toMatchObject({
      ok: false,
      code: 550,
    });
    expect(await report(`fbl@${BOUNCE_DOMAIN}`, arf(forgedTag, 'safe@example.com'))).toMatchObject({ ok: false, code: 550 });
    expect((await recipients(sent.requestId))[0]).toMatchObject({ status: 'S', bounce_type: null, complaint_type: null });
    const metrics = await svc.call('GET', '/metrics');
    expect(metrics.text).toMatch(/mailer_inbound_messages_total\{outcome="forged"\} [1-9]/);
    expect(metrics.text).toMatch(/mailer_inbound_messages_total\{outcome="unknown_address"\} [1-9]/);
  });

  it('accepts and drops what is no report (an auto-reply to the return path); refuses what is too large', async () => {
    const sent = await send({ recipients: [{ address: 'away@example.com' }] });
    const path = sent.returnPaths[0]!;
    const autoReply = 'From: away@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n';
    expect(await report(path, autoReply)).toMatchObject({ ok: true, response: expect.stringMatching(/dropped/) });
    const huge = dsn([{ address: 'away@example.com', status: '5.1.1', diagnostic: `550 5.1.1 ${'x'.repeat(300 * 1024)}` }]);
    expect(await report(path, huge)).toMatchObject({ ok: false, code: 552 });
    expect((await recipients(sent.requestId))[0]).toMatchObject({ status: 'S', bounce_type: null });
  });

  it('hostile input on the wire does not stop the listener', async () => {
    const sent = await send({ recipients: [{ address: 'still@example.com' }] });
    const garbage = [Buffer.alloc(50_000, 0xff).toString('latin1'), 'Content-Type: multipart/report; boundary=\r\n\r\n--\r\n', 'no headers at all'];
    for (const raw of garbage) await report(sent.returnPaths[0]!, raw);
    const answer = await report(sent.returnPaths[0]!, dsn([{ address: 'still@example.com', status: '5.1.1' }]));
    expect(answer).toMatchObject({ ok: true, response: expect.stringMatching(/hard bounce/) });
  });

  // Reports as Postfix, Exim, Exchange, Gmail and the Yahoo/AOL feedback loops write them.
  // Exim reports the generic status 5.0.0 and the remote reply in Diagnostic-Code.
  const expected: Record<string, Record<string, unknown>> = {
    'postfix-hard-5.1.1': { status: 'F', result_code: 'RECIPIENT_ADDRESS_ERROR', bounce_type: 'H', bounce_status: '5.1.1' },
    'exim-hard-5.1.1': { status: 'F', result_code: 'RECIPIENT_ADDRESS_ERROR', bounce_type: 'H', bounce_status: '5.0.0' },
    'exchange-hard-5.1.10': { status: 'F', result_code: 'RECIPIENT_ADDRESS_ERROR', bounce_type: 'H', bounce_status: '5.1.10' },
    'gmail-hard-5.1.1': { status: 'F', result_code: 'RECIPIENT_ADDRESS_ERROR', bounce_type: 'H', bounce_status: '5.1.1' },
    'postfix-delayed-4.4.1': { status: 'S', result_code: 'MAIL_SENT', bounce_type: 'S', bounce_status: '4.4.1' },
    'soft-4.2.2-mailbox-full': { status: 'S', result_code: 'MAIL_SENT', bounce_type: 'S', bounce_status: '4.2.2' },
    'arf-yahoo-rfc822': { status: 'S', complaint_type: 'abuse' },
    'arf-aol-headers': { status: 'S', complaint_type: 'abuse' },
    'arf-rfc5965-headers': { status: 'S', complaint_type: 'abuse' },
  };
  it.each(FEEDBACK_FIXTURES.map((f) => [f.name, f] as const))('applies a real-shaped report: %s', async (name, f) => {
    const address = `${name.replace(/[^a-z0-9]/g, '')}@example.com`;
    const sent = await send({ recipients: [{ address }] });
    const path = sent.returnPaths[0]!;
    const raw = fixture(name, { token: path.slice(2, path.indexOf('@')), rcpt: address });
    // A DSN comes to the return path; a complaint to the feedback-loop address.
    const answer = await report(f.kind === 'dsn' ? path : `fbl@${BOUNCE_DOMAIN}`, raw);
    expect(answer).toMatchObject({ ok: true });
    expect((await recipients(sent.requestId))[0]).toMatchObject(expected[name]!);
  });
});
