import { describe, it, expect } from '@jest/globals';
import { parseReport } from '../../src/modules/feedback/parse-report.ts';
import type { DsnRecipient, ParsedReport } from '../../src/modules/feedback/parse-report.ts';
import { FEEDBACK_FIXTURES, fixture, verpAddress } from '../fixtures/feedback/index.ts';

const TOKEN = 'k3v9Qx2mZp7Lw4Rt';
const RCPT = 'Jane.Doe@Example.NET';
/** What the parser makes of RCPT: the domain lower-cased, the local part as written. */
const RCPT_OUT = 'Jane.Doe@example.net';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');

/** A multipart/report with a text part, the given report part and (optionally) the returned message's headers. */
function report(opts: {
  type?: 'delivery-status' | 'feedback-report';
  partType?: string;
  body: string | Buffer;
  encoding?: string;
  original?: string;
}): Buffer {
  const type = opts.type ?? 'delivery-status';
  const head = [
    'From: MAILER-DAEMON@relay.example.org',
    `To: ${verpAddress(TOKEN)}`,
    'Subject: report',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${type}; boundary="b1"`,
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'Human readable part.',
    '--b1',
    `Content-Type: ${opts.partType ?? (type === 'delivery-status' ? 'message/delivery-status' : 'message/feedback-report')}`,
    ...(opts.encoding ? [`Content-Transfer-Encoding: ${opts.encoding}`] : []),
    '',
    '',
  ].join('\r\n');
  const tail = ['', ...(opts.original === undefined ? [] : ['--b1', 'Content-Type: text/rfc822-headers', '', opts.original, '']), '--b1--', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head), Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body), Buffer.from(tail)]);
}

const ORIGINAL_HEADERS = [`Return-Path: <${verpAddress(TOKEN)}>`, 'From: news@example.test', `To: ${RCPT}`, 'Message-ID: <m1@example.test>'].join('\r\n');

function dsn(parsed: ParsedReport): Extract<ParsedReport, { kind: 'dsn' }> {
  if (parsed.kind !== 'dsn') throw new Error(`expected a DSN, got ${JSON.stringify(parsed)}`);
  return parsed;
}

function arf(parsed: ParsedReport): Extract<ParsedReport, { kind: 'arf' }> {
  if (parsed.kind !== 'arf') throw new Error(`expected an ARF report, got ${JSON.stringify(parsed)}`);
  return parsed;
}

/** Deterministic bytes (a xorshift generator), so a failure can be replayed. */
function noise(length: number, seed = 0x2545f491): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('parseReport: fixtures from real MTAs and feedback loops', () => {
  it.each(FEEDBACK_FIXTURES.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const raw = fixture(f.name, { token: TOKEN, rcpt: RCPT });
    expect(raw.includes('{TOKEN}') || raw.includes('{RCPT}')).toBe(false);
    expect(raw.toString('latin1')).not.toMatch(/[^\r]\n/);

    const parsed = await parseReport(raw);
    expect(parsed.kind).toBe(f.kind);
    if (parsed.kind === 'dsn') {
      expect(parsed.recipients).toHaveLength(1);
      const [r] = parsed.recipients as [DsnRecipient];
      expect(r.finalRecipient).toBe(RCPT_OUT);
      expect(r.action).toBe(f.action);
      expect(r.status).toBe(f.status);
      expect(r.diagnosticCode).toBeTruthy();
      expect(r.diagnosticCode).not.toMatch(/^smtp;|[\r\n]/i);
    } else if (parsed.kind === 'arf') {
      expect(parsed.feedbackType).toBe(f.feedbackType);
      expect(parsed.originalRcptTo).toHaveLength(f.originalRcptTo!);
      if (f.originalRcptTo) expect(parsed.originalRcptTo[0]).toBe(RCPT_OUT);
      expect(parsed.arrivalDate).toBeInstanceOf(Date);
      expect(parsed.userAgent).toBeTruthy();
    }
    if (parsed.kind === 'other') return;
    expect(parsed.original.returnPath).toBe(f.returnPath ? verpAddress(TOKEN) : undefined);
    expect(parsed.original.messageId).toMatch(/^<[^<>\s]+@example\.test>$/);
    expect(parsed.original.headers?.get('from')).toContain('news@example.test');
  });

  it('Postfix: the folded diagnostic is joined into one line, Remote-MTA without its type', async () => {
    const [r] = dsn(await parseReport(fixture('postfix-hard-5.1.1', { token: TOKEN, rcpt: RCPT }))).recipients;
    expect(r).toEqual({
      finalRecipient: RCPT_OUT,
      originalRecipient: RCPT_OUT,
      action: 'failed',
      status: '5.1.1',
      diagnosticCode: `550 5.1.1 <${RCPT}>: Recipient address rejected: User unknown in virtual mailbox table`,
      remoteMta: 'mx1.example.net',
    });
  });

  it('Postfix delay warning: X-Postfix diagnostic type stripped, headers-only original', async () => {
    const parsed = dsn(await parseReport(fixture('postfix-delayed-4.4.1', { token: TOKEN, rcpt: RCPT })));
    expect(parsed.recipients[0]!.diagnosticCode).toBe('connect to mx.slow.example.net[203.0.113.40]:25: Connection timed out');
    expect(parsed.original.headers?.get('subject')).toBe('Your December offers');
  });

  it('Exim: Status 5.0.0 as sent, the first Remote-MTA, the SMTP reply in the diagnostic, lower-case Return-path found', async () => {
    const parsed = dsn(await parseReport(fixture('exim-hard-5.1.1', { token: TOKEN, rcpt: RCPT })));
    expect(parsed.recipients[0]).toMatchObject({
      status: '5.0.0',
      remoteMta: 'mail.example.com',
      diagnosticCode: `550 5.1.1 <${RCPT}>: Recipient address rejected: User unknown`,
    });
    expect(parsed.original.returnPath).toBe(verpAddress(TOKEN));
  });

  it('Exchange: the HTML first part is skipped; a ";" inside the diagnostic is kept', async () => {
    const [r] = dsn(await parseReport(fixture('exchange-hard-5.1.10', { token: TOKEN, rcpt: RCPT }))).recipients;
    expect(r!.diagnosticCode).toBe('550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup');
    expect(r!.remoteMta).toBeUndefined();
  });

  it('Gmail: multi-line 550-5.1.1 diagnostic unfolded, Remote-MTA comment and root dot dropped', async () => {
    const [r] = dsn(await parseReport(fixture('gmail-hard-5.1.1', { token: TOKEN, rcpt: RCPT }))).recipients;
    expect(r!.diagnosticCode).toMatch(/^550-5\.1\.1 The email account that you tried to reach does not exist\. Please try 550-5\.1\.1 double-checking/);
    expect(r!.diagnosticCode).toMatch(/ - gsmtp$/);
    expect(r!.remoteMta).toBe('gmail-smtp-in.l.google.com');
  });

  it('ARF: Yahoo Received-Date is the arrival date; RFC 5965 repeated Original-Rcpt-To all kept', async () => {
    const yahoo = arf(await parseReport(fixture('arf-yahoo-rfc822', { token: TOKEN, rcpt: RCPT })));
    expect(yahoo).toMatchObject({ userAgent: 'Yahoo!-Mail-Feedback/2.0', originalMailFrom: verpAddress(TOKEN), originalRcptTo: [RCPT_OUT] });
    expect(yahoo.arrivalDate?.toISOString()).toBe('2026-12-07T16:01:58.000Z');

    const rfc = arf(await parseReport(fixture('arf-rfc5965-headers', { token: TOKEN, rcpt: RCPT })));
    expect(rfc.originalRcptTo).toEqual([RCPT_OUT, 'Second.Reader@isp.example.net']);
    expect(rfc.arrivalDate?.toISOString()).toBe('2026-12-09T11:58:41.000Z');
  });

  it('fixture() fills the placeholders and refuses unknown names and multi-line values', () => {
    const raw = fixture('postfix-hard-5.1.1', { token: 'abc', rcpt: 'x@y.example' }).toString();
    expect(raw).toContain('To: b-abc@bounces.example.test\r\n');
    expect(raw).toContain('Final-Recipient: rfc822; x@y.example\r\n');
    expect(() => fixture('nope', { token: 'a', rcpt: 'b@c' })).toThrow();
    expect(() => fixture('postfix-hard-5.1.1', { token: 'a\r\nBcc: x', rcpt: 'b@c' })).toThrow();
  });
});

describe('parseReport: delivery-status syntax', () => {
  it('reads several recipients, case-insensitive names, folded values, comments and address types', async () => {
    const body = [
      'reporting-mta: dns; relay.example.org',
      '',
      'FINAL-RECIPIENT: RFC822; <A@One.Example>',
      'action: Failed (permanent)',
      'status: 5.1.1 (bad destination mailbox address)',
      'diagnostic-code: SMTP; 550 5.1.1',
      '\tno such user',
      '',
      'Final-Recipient: rfc822;b@two.example',
      'Action: delayed',
      'Status: 4.02.02',
      '',
    ].join('\r\n');
    const parsed = dsn(await parseReport(report({ body })));
    expect(parsed.recipients).toEqual([
      { finalRecipient: 'A@one.example', action: 'failed', status: '5.1.1', diagnosticCode: '550 5.1.1 no such user' },
      { finalRecipient: 'b@two.example', action: 'delayed', status: '4.2.2' },
    ]);
  });

  it('splits recipients that lack the blank line between them, and infers a missing Action from the status', async () => {
    const body = [
      'Reporting-MTA: dns; x',
      '',
      'Final-Recipient: rfc822; a@x.example',
      'Status: 5.2.1',
      'Final-Recipient: rfc822; b@x.example',
      'Status: 4.4.7',
      '',
    ].join('\n');
    const parsed = dsn(await parseReport(report({ body })));
    expect(parsed.recipients.map((r) => [r.finalRecipient, r.action, r.status])).toEqual([
      ['a@x.example', 'failed', '5.2.1'],
      ['b@x.example', 'delayed', '4.4.7'],
    ]);
  });

  it('accepts message/global-delivery-status with UTF-8 addresses and \\x{} escapes (RFC 6533)', async () => {
    const body = [
      'Reporting-MTA: dns; relay.example.org',
      '',
      'Final-Recipient: utf-8; j\\x{FC}rgen@b\u00fccher.example',
      'Action: failed',
      'Status: 5.1.1',
      '',
    ].join('\r\n');
    const parsed = dsn(await parseReport(report({ partType: 'message/global-delivery-status', body })));
    expect(parsed.recipients[0]!.finalRecipient).toBe('j\u00fcrgen@b\u00fccher.example');
  });

  it('decodes a base64 delivery-status part and reads the headers-only original', async () => {
    const body = Buffer.from('Reporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n')
      .toString('base64')
      .replace(/.{76}/g, '$&\r\n');
    const parsed = dsn(await parseReport(report({ body, encoding: 'base64', original: ORIGINAL_HEADERS })));
    expect(parsed.recipients[0]!.status).toBe('5.1.1');
    expect(parsed.original).toMatchObject({ returnPath: verpAddress(TOKEN), messageId: '<m1@example.test>' });
  });

  it('cuts the diagnostic at 1,000 characters', async () => {
    const body = `Reporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: failed\r\nDiagnostic-Code: smtp; 550 ${'x'.repeat(5000)}\r\n`;
    const [r] = dsn(await parseReport(report({ body }))).recipients;
    expect(r!.diagnosticCode).toHaveLength(1000);
  });

  it('treats a null Return-Path as no address', async () => {
    const parsed = dsn(
      await parseReport(report({ body: 'Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\n', original: 'Return-Path: <>\r\nMessage-ID: <m@x>' })),
    );
    expect(parsed.original.returnPath).toBeUndefined();
    expect(parsed.original.messageId).toBe('<m@x>');
  });
});

describe('parseReport: not a report', () => {
  it.each([
    ['a plain auto-reply', crlf(['From: someone@example.net', 'Subject: Out of office', '', 'I am away until Monday.'])],
    [
      'multipart/report without a report part',
      crlf(['Content-Type: multipart/report; report-type=delivery-status; boundary=x', '', '--x', 'Content-Type: text/plain', '', 'hi', '--x--']),
    ],
    [
      'a delivery-status part with per-message fields only',
      report({ body: 'Reporting-MTA: dns; relay.example.org\r\nArrival-Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n' }),
    ],
    ['an ARF part without Feedback-Type', report({ type: 'feedback-report', body: 'User-Agent: x/1\r\nVersion: 1\r\n' })],
  ])('%s is kind other', async (_name, raw) => {
    const parsed = await parseReport(raw);
    expect(parsed.kind).toBe('other');
    expect(parsed.kind === 'other' && parsed.reason).toBeTruthy();
  });
});

describe('parseReport: hostile input never throws and stays bounded', () => {
  const cases: [string, () => Buffer][] = [
    ['empty', () => Buffer.alloc(0)],
    ['one byte', () => Buffer.from('\n')],
    ['binary noise', () => noise(64 * 1024)],
    ['10 MB of noise', () => noise(10 * 1024 * 1024)],
    [
      'multipart without a boundary',
      () => crlf(['Content-Type: multipart/report; report-type=delivery-status', '', '--', 'Content-Type: message/delivery-status', '', 'Action: failed']),
    ],
    ['a 1 MB top-level header line', () => crlf([`X-Long: ${'a'.repeat(1024 * 1024)}`, 'Content-Type: text/plain', '', 'x'])],
    ['invalid UTF-8 everywhere', () => report({ body: Buffer.from([0xff, 0xfe, 0x0d, 0x0a, 0xc3, 0x28, 0x3a, 0x0d, 0x0a, 0xe2, 0x82]) })],
    ['headers only, no body', () => crlf(['Content-Type: multipart/report; report-type=delivery-status; boundary=x'])],
    ['NUL bytes in the report', () => report({ body: 'Final-Recipient: rfc822; a\u0000@x\r\nAction: \u0000\r\n' })],
  ];
  it.each(cases)('%s', async (_name, make) => {
    const parsed = await parseReport(make());
    expect(['dsn', 'arf', 'other']).toContain(parsed.kind);
  });

  it('100,000 MIME parts, base64 garbage and charset tricks around a real report: read or refused, never thrown', async () => {
    const status = 'Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; many@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n';
    const parts = Array.from({ length: 100_000 }, (_, i) => `--m\r\nContent-Type: text/plain; charset=x-unknown-${i % 7}\r\n\r\n${i}\r\n`);
    const many = Buffer.from(`Content-Type: multipart/report; report-type=delivery-status; boundary=m\r\n\r\n${parts.join('')}--m\r\n${status}--m--\r\n`);
    const parsed = await parseReport(many, { maxBytes: 32 * 1024 * 1024 });
    expect(['dsn', 'other']).toContain(parsed.kind);
    if (parsed.kind === 'dsn') expect(parsed.recipients.map((r) => r.finalRecipient)).toEqual(['many@x.example']);

    const garbage = report({ body: '!!!not base64 at all\u00ff==\r\n====\r\n', encoding: 'base64' });
    expect(['dsn', 'other']).toContain((await parseReport(garbage)).kind);
    const tricky = report({
      body: 'Final-Recipient: rfc822; =?utf-7?B?K0FHRUFady0=?=@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n',
      partType: 'message/delivery-status; charset=utf-7',
    });
    const read = dsn(await parseReport(tricky));
    expect(read.recipients[0]!.finalRecipient).toBe('=?utf-7?B?K0FHRUFady0=?=@x.example');
  }, 120_000);

  it('keeps at most 1,000 of 100,000 recipient blocks', async () => {
    const blocks = Array.from({ length: 100_000 }, (_, i) => `Final-Recipient: rfc822; r${i}@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n`);
    const parsed = dsn(await parseReport(report({ body: `Reporting-MTA: dns; x\r\n\r\n${blocks.join('\r\n')}` }), { maxBytes: 32 * 1024 * 1024 }));
    expect(parsed.recipients).toHaveLength(1000);
    expect(parsed.recipients[999]!.finalRecipient).toBe('r999@x.example');
  });

  it('keeps at most 1,000 Original-Rcpt-To fields', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `Original-Rcpt-To: r${i}@x.example`);
    const parsed = arf(await parseReport(report({ type: 'feedback-report', body: `Feedback-Type: abuse\r\n${lines.join('\r\n')}\r\n` })));
    expect(parsed.originalRcptTo).toHaveLength(1000);
  });

  it('survives 1 MB field lines in the report and in the returned headers', async () => {
    const big = 'y'.repeat(1024 * 1024);
    const body = `Reporting-MTA: dns; ${big}\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: failed\r\nDiagnostic-Code: smtp; 550 ${big}\r\n\r\n`;
    const parsed = await parseReport(report({ body, original: `X-Big: ${big}\r\n${ORIGINAL_HEADERS}` }));
    // mailsplit refuses a header block over 1 MB, so either reading is acceptable; a DSN must still be bounded.
    if (parsed.kind === 'dsn') {
      expect(parsed.recipients[0]!.diagnosticCode!.length).toBeLessThanOrEqual(1000);
      expect(parsed.original.headers?.get('x-big')?.length ?? 0).toBeLessThanOrEqual(4096);
    } else {
      expect(parsed.kind).toBe('other');
    }
  });

  it('reads only the header block of a huge returned message, and a report cut at maxBytes', async () => {
    const huge = `${ORIGINAL_HEADERS}\r\n\r\n${'body line\r\n'.repeat(1024 * 1024)}`;
    const raw = report({ body: 'Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n', original: huge });
    expect(raw.length).toBeGreaterThan(10 * 1024 * 1024);
    const parsed = dsn(await parseReport(raw));
    expect(parsed.original.returnPath).toBe(verpAddress(TOKEN));
    expect(parsed.original.headers?.size).toBe(4);
  });

  it('nested reports: the outer report wins, deep nesting is refused or read, never thrown', async () => {
    const inner = fixture('postfix-hard-5.1.1', { token: 'inner', rcpt: 'inner@x.example' }).toString();
    const outer = report({ type: 'feedback-report', body: 'Feedback-Type: abuse\r\nOriginal-Rcpt-To: outer@x.example\r\n' }).toString();
    const wrapped = outer.replace('--b1--', `--b1\r\nContent-Type: message/rfc822\r\n\r\n${inner}\r\n--b1--`);
    const parsed = arf(await parseReport(Buffer.from(wrapped)));
    expect(parsed.originalRcptTo).toEqual(['outer@x.example']);

    let deep = 'Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; deep@x.example\r\nAction: failed\r\n';
    for (let i = 0; i < 2000; i++)
      deep = `Content-Type: multipart/report; report-type=delivery-status; boundary="n${i}"\r\n\r\n--n${i}\r\n${deep}\r\n--n${i}--\r\n`;
    const nested = await parseReport(Buffer.from(deep));
    expect(['dsn', 'other']).toContain(nested.kind);
  });

  it('parses thousands of DSNs in a row with the same result (a smoke test for the hot path, not timed)', async () => {
    const raws = FEEDBACK_FIXTURES.filter((f) => f.kind === 'dsn').map((f) => fixture(f.name, { token: TOKEN, rcpt: RCPT }));
    const statuses = new Map<number, string | undefined>();
    for (let i = 0; i < 3000; i++) {
      const parsed = dsn(await parseReport(raws[i % raws.length]!));
      const status = parsed.recipients[0]!.status;
      if (!statuses.has(i % raws.length)) statuses.set(i % raws.length, status);
      expect(status).toBe(statuses.get(i % raws.length));
    }
  });
});
