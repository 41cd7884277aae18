import { describe, it, expect } from '@jest/globals';
import { validateMailRequest } from '../../src/modules/requests/validate-mail-request.ts';
import { isValidEmail } from '../../src/shared/email-address.ts';
import { LIMITS } from '../../src/shared/mail-limits.ts';
import type { MailRequestInput } from '../../src/modules/requests/validate-mail-request.ts';
import { AppError } from '../../src/shared/errors.ts';

const NOW = new Date('2026-11-15T03:00:00.000Z');
const TZ = 'Asia/Seoul';
const DAY = 86_400_000;

const base = (over: Partial<MailRequestInput> = {}): MailRequestInput => ({
  senderAddress: 'no-reply@example.com',
  title: 'Hello',
  body: '<p>Hi</p>',
  recipients: [{ address: 'kim@example.com', name: 'Kim', type: 'R' }],
  ...over,
});

const validate = (over: Partial<MailRequestInput> = {}, now = NOW, tz = TZ) => validateMailRequest(base(over), now, tz);

/** Runs fn, expecting an AppError 400/77102 whose message mentions `field`. */
function expectBadRequest(fn: () => unknown, field: string | RegExp): AppError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(AppError);
  const err = caught as AppError;
  expect(err.status).toBe(400);
  expect(err.code).toBe('77102');
  if (typeof field === 'string') expect(err.message.startsWith(`${field}:`) || err.message.includes(field)).toBe(true);
  else expect(err.message).toMatch(field);
  return err;
}

describe('isValidEmail', () => {
  const label63 = 'a'.repeat(63);
  const at254 = `${'l'.repeat(64)}@${label63}.${label63}.${'d'.repeat(57)}.com`;

  const valid: string[] = [
    'a@b.co',
    '홍길동@example.com',
    'x+tag@sub.example.co.kr',
    'hongildong@naver_.com', // accepted on purpose: NCP's own examples use it
    'first.last@example.com',
    "o'reilly@example.com",
    'user@xn--bj0bj06e.kr',
    'user@한국.kr',
    'a-b_c@my-domain.example',
    `${'l'.repeat(64)}@example.com`,
    `a@${label63}.com`,
    at254,
  ];
  const invalid: [why: string, address: string][] = [
    ['empty', ''],
    ['no @', 'plainaddress'],
    ['nothing before @', '@example.com'],
    ['nothing after @', 'a@'],
    ['two @', 'a@b@example.com'],
    ['space in local part', 'a b@example.com'],
    ['space in domain', 'a@exa mple.com'],
    ['leading space', ' a@example.com'],
    ['trailing space', 'a@example.com '],
    ['trailing dot in local part', 'a.@example.com'],
    ['leading dot in local part', '.a@example.com'],
    ['double dot in local part', 'a..b@x.com'],
    ['domain without a dot', 'a@localhost'],
    ['numeric TLD', 'a@example.123'],
    ['IP-like domain', 'a@127.0.0.1'],
    ['empty label', 'a@example..com'],
    ['trailing dot in domain', 'a@example.com.'],
    ['leading dot in domain', 'a@.example.com'],
    ['label starts with hyphen', 'a@-example.com'],
    ['label ends with hyphen', 'a@example-.com'],
    ['label over 63 chars', `a@${'a'.repeat(64)}.com`],
    ['local part over 64 chars', `${'l'.repeat(65)}@example.com`],
    ['quote in local part', '"a"@example.com'],
    ['angle brackets', '<a@example.com>'],
    ['comma', 'a,b@example.com'],
    ['over 254 chars', `x${at254}`],
  ];

  it('the 254-char fixture is exactly 254 chars', () => {
    expect(at254).toHaveLength(254);
  });
  it.each(valid)('accepts %s', (address) => {
    expect(isValidEmail(address)).toBe(true);
  });
  it.each(invalid)('rejects %s (%s)', (_why, address) => {
    expect(isValidEmail(address)).toBe(false);
  });
});

describe('validateMailRequest: defaults and output', () => {
  it('fills defaults', () => {
    const v = validate();
    expect(v).toEqual({
      senderAddress: 'no-reply@example.com',
      senderName: null,
      title: 'Hello',
      body: '<p>Hi</p>',
      individual: true,
      confirmAndSend: false,
      advertising: false,
      parameters: null,
      referencesHeader: null,
      reservationAt: null,
      useBasicUnsubscribeMsg: true,
      unsubscribeMessage: null,
      recipients: [{ address: 'kim@example.com', name: 'Kim', type: 'R', parameters: null }],
      deferredRecipients: null,
      recipientFileId: null,
      groupFilter: null,
      testMail: false,
    });
  });

  it('checks deferred recipients one at a time, keeps none, and gives them again a slice at a time', () => {
    const given = [
      { address: ' a@example.com ', name: '', parameters: { N: 1 } },
      { address: 'b@example.com', type: 'B' },
      { address: 'c@example.com', type: null },
    ];
    let parsed = 0;
    const deferred = {
      length: given.length,
      bytes: JSON.stringify(given).length,
      at: (i: number) => {
        parsed++;
        return structuredClone(given[i]!);
      },
    };
    const v = validateMailRequest(base({ recipients: [] }), NOW, TZ, deferred);
    expect({ recipients: v.recipients, count: v.deferredRecipients!.length, parsed }).toEqual({ recipients: [], count: 3, parsed: 3 });
    expect(v.deferredRecipients!.slice(1, 10)).toEqual([
      { address: 'b@example.com', name: null, type: 'B', parameters: null },
      { address: 'c@example.com', name: null, type: 'R', parameters: null },
    ]);
    expect(v.deferredRecipients!.slice(0, 1)).toEqual([{ address: 'a@example.com', name: null, type: 'R', parameters: { N: '1' } }]);
    const bad = { length: 2, bytes: 60, at: (i: number) => (i === 0 ? { address: 'a@example.com' } : { address: 'nope' }) };
    expect(() => validateMailRequest(base({ recipients: [] }), NOW, TZ, bad)).toThrow('recipients[1].address');
  });

  it('null flags take the defaults too', () => {
    const v = validate({ individual: null, confirmAndSend: null, advertising: null, useBasicUnsubscribeMsg: null });
    expect(v).toMatchObject({ individual: true, confirmAndSend: false, advertising: false, useBasicUnsubscribeMsg: true });
  });

  it('recipient type defaults to R; empty name becomes null; address is trimmed', () => {
    const v = validate({
      recipients: [
        { address: '  kim@example.com ', name: '' },
        { address: 'lee@example.com', type: '' },
      ],
    });
    expect(v.recipients).toEqual([
      { address: 'kim@example.com', name: null, type: 'R', parameters: null },
      { address: 'lee@example.com', name: null, type: 'R', parameters: null },
    ]);
  });

  it('keeps given flags and strings', () => {
    const v = validate({ confirmAndSend: true, advertising: true, senderName: 'Shop', useBasicUnsubscribeMsg: false, unsubscribeMessage: 'Click ...' });
    expect(v).toMatchObject({ confirmAndSend: true, advertising: true, senderName: 'Shop', useBasicUnsubscribeMsg: false, unsubscribeMessage: 'Click ...' });
  });

  it('an empty title is allowed (only null/absent is "required")', () => {
    expect(validate({ title: '' }).title).toBe('');
  });
});

describe('validateMailRequest: required fields', () => {
  type Row = [name: string, over: Partial<MailRequestInput>, field: string];
  const rows: Row[] = [
    ['no senderAddress', { senderAddress: undefined }, 'senderAddress'],
    ['empty senderAddress', { senderAddress: '' }, 'senderAddress'],
    ['bad senderAddress', { senderAddress: 'not-an-address' }, 'senderAddress'],
    ['no title', { title: undefined }, 'title'],
    ['null title', { title: null }, 'title'],
    ['no body', { body: undefined }, 'body'],
    ['empty body', { body: '' }, 'body'],
    ['no recipients', { recipients: undefined }, 'recipients'],
    ['empty recipients', { recipients: [] }, 'recipients'],
    ['recipient without address', { recipients: [{ name: 'x' }] }, 'recipients[0].address'],
    ['recipient with blank address', { recipients: [{ address: '   ' }] }, 'recipients[0].address'],
    ['second recipient bad address', { recipients: [{ address: 'a@b.co' }, { address: 'bad@' }] }, 'recipients[1].address'],
    ['bad recipient type', { recipients: [{ address: 'a@b.co', type: 'X' }] }, 'recipients[0].type'],
    ['recipientGroupFilter', { recipientGroupFilter: { andFilter: true } }, 'recipientGroupFilter'],
    ['advertising without unsubscribe message', { advertising: true, useBasicUnsubscribeMsg: false }, 'unsubscribeMessage'],
    ['advertising in general mode', { advertising: true, individual: false }, 'advertising'],
  ];
  it.each(rows)('%s → 400/77102 naming %s', (_name, over, field) => {
    expectBadRequest(() => validate(over), field);
  });

  it('Cc and Bcc in individual mode (the default) are accepted: each is sent its own mail', () => {
    const v = validate({ recipients: [{ address: 'a@b.co' }, { address: 'c@b.co', type: 'C' }, { address: 'b@b.co', type: 'B' }] });
    expect(v.individual).toBe(true);
    expect(v.recipients.map((r) => [r.address, r.type])).toEqual([
      ['a@b.co', 'R'],
      ['c@b.co', 'C'],
      ['b@b.co', 'B'],
    ]);
    expect(validate({ recipients: [{ address: 'only-bcc@b.co', type: 'B' }] }).recipients).toHaveLength(1);
  });

  it('too many recipients', () => {
    const recipients = Array.from({ length: LIMITS.recipients + 1 }, (_, i) => ({ address: `u${i}@example.com` }));
    expectBadRequest(() => validate({ recipients }), 'recipients');
  });

  it('recipientFileId replaces recipients (resolved by the service), individually only', () => {
    expect(validate({ recipients: null, recipientFileId: ' rf1 ' })).toMatchObject({ recipients: [], recipientFileId: 'rf1' });
    expectBadRequest(() => validate({ recipientFileId: 'rf1', individual: false }), 'recipientFileId');
    expectBadRequest(() => validate({ recipientFileId: 'rf1' }), 'recipients');
    expect(validate({ recipientFileId: '' }).recipientFileId).toBeNull();
  });

  it('empty attachFileIds is fine', () => {
    expect(() => validate({ attachFileIds: [] })).not.toThrow();
  });

  it('leaves templateSid and attachFileIds to the service (they need the database)', () => {
    expect(() => validate({ templateSid: 7, attachFileIds: ['f1'] })).not.toThrow();
  });
});

describe('validateMailRequest: byte and length limits', () => {
  type Row = [name: string, over: Partial<MailRequestInput>, ok: boolean, field: string];
  const ko = (n: number) => '가'.repeat(n); // 3 bytes each
  const emoji = (n: number) => '😀'.repeat(n); // 4 bytes, 2 UTF-16 units, 1 code point
  const rows: Row[] = [
    ['title 500 ASCII bytes', { title: 'a'.repeat(500) }, true, 'title'],
    ['title 501 ASCII bytes', { title: 'a'.repeat(501) }, false, 'title'],
    ['title 498 + 2 bytes multi-byte = 500', { title: ko(166) + 'ab' }, true, 'title'],
    ['title 167 Hangul = 501 bytes', { title: ko(167) }, false, 'title'],
    ['title 125 emoji = 500 bytes', { title: emoji(125) }, true, 'title'],
    ['title 125 emoji + 1 = 501 bytes', { title: emoji(125) + 'a' }, false, 'title'],
    ['body 500 KB', { body: 'a'.repeat(500 * 1024) }, true, 'body'],
    ['body 500 KB + 1 byte', { body: 'a'.repeat(500 * 1024 + 1) }, false, 'body'],
    ['body multi-byte over 500 KB', { body: ko(170_667) }, false, 'body'],
    ['senderName 69 bytes', { senderName: 'a'.repeat(69) }, true, 'senderName'],
    ['senderName 70 bytes', { senderName: 'a'.repeat(70) }, false, 'senderName'],
    ['senderName 23 Hangul = 69 bytes', { senderName: ko(23) }, true, 'senderName'],
    ['senderName 23 Hangul + a = 70 bytes', { senderName: ko(23) + 'a' }, false, 'senderName'],
    ['recipient name 69 chars', { recipients: [{ address: 'a@b.co', name: 'n'.repeat(69) }] }, true, 'recipients[0].name'],
    ['recipient name 70 chars', { recipients: [{ address: 'a@b.co', name: 'n'.repeat(70) }] }, false, 'recipients[0].name'],
    ['recipient name 69 Hangul (207 bytes)', { recipients: [{ address: 'a@b.co', name: ko(69) }] }, true, 'recipients[0].name'],
    ['recipient name 69 emoji (138 UTF-16 units)', { recipients: [{ address: 'a@b.co', name: emoji(69) }] }, true, 'recipients[0].name'],
    ['recipient name 70 emoji', { recipients: [{ address: 'a@b.co', name: emoji(70) }] }, false, 'recipients[0].name'],
  ];
  it.each(rows)('%s', (_name, over, ok, field) => {
    if (ok) expect(() => validate(over)).not.toThrow();
    else expectBadRequest(() => validate(over), field);
  });
});

describe('validateMailRequest: referencesHeader', () => {
  const id = (n: number) => `<${'x'.repeat(n - '<@example.com>'.length)}@example.com>`;
  type Row = [value: string, expected: string | null];
  const ok: Row[] = [
    ['<abc@example.com>', '<abc@example.com>'],
    ['  <abc@example.com>  ', '<abc@example.com>'],
    ['<20251201.1234@mail.example.co.kr>', '<20251201.1234@mail.example.co.kr>'],
    ['', null],
    [id(100), id(100)],
  ];
  it.each(ok)('accepts %j', (value, expected) => {
    expect(validate({ referencesHeader: value }).referencesHeader).toBe(expected);
  });

  it('the 100-char fixture is exactly 100 chars', () => expect(id(100)).toHaveLength(100));

  const bad: string[] = [
    'abc@example.com',
    '<abc@example.com',
    'abc@example.com>',
    '<abc>',
    '<@example.com>',
    '<abc@>',
    '<a b@example.com>',
    '<a@b@example.com>',
    '<abc@example.com> <def@example.com>',
    id(101),
  ];
  it.each(bad)('rejects %j', (value) => {
    expectBadRequest(() => validate({ referencesHeader: value }), 'referencesHeader');
  });
});

describe('validateMailRequest: reservation', () => {
  it('none → null', () => {
    expect(validate().reservationAt).toBeNull();
    expect(validate({ reservationUtc: null, reservationDateTime: '' }).reservationAt).toBeNull();
  });

  type Row = [name: string, over: Partial<MailRequestInput>, expected: string];
  const ok: Row[] = [
    ['reservationUtc 1 h ahead', { reservationUtc: NOW.getTime() + 3_600_000 }, '2026-11-15T04:00:00.000Z'],
    ['reservationUtc exactly now', { reservationUtc: NOW.getTime() }, NOW.toISOString()],
    ['reservationUtc exactly 30 days ahead', { reservationUtc: NOW.getTime() + 30 * DAY }, new Date(NOW.getTime() + 30 * DAY).toISOString()],
    ['reservationDateTime in KST', { reservationDateTime: '2026-12-01 09:00' }, '2026-12-01T00:00:00.000Z'],
    ['reservationDateTime crossing the date line in KST', { reservationDateTime: '2026-11-16 08:59' }, '2026-11-15T23:59:00.000Z'],
    ['reservationDateTime with surrounding spaces', { reservationDateTime: ' 2026-12-01 09:00 ' }, '2026-12-01T00:00:00.000Z'],
    [
      'reservationUtc wins over reservationDateTime',
      { reservationUtc: NOW.getTime() + DAY, reservationDateTime: '2026-12-01 09:00' },
      '2026-11-16T03:00:00.000Z',
    ],
    [
      'reservationUtc wins even over a malformed reservationDateTime',
      { reservationUtc: NOW.getTime() + DAY, reservationDateTime: 'garbage' },
      '2026-11-16T03:00:00.000Z',
    ],
  ];
  it.each(ok)('%s', (_name, over, expected) => {
    expect(validate(over).reservationAt?.toISOString()).toBe(expected);
  });

  it('reservationDateTime follows the time zone argument', () => {
    expect(validate({ reservationDateTime: '2026-12-01 09:00' }, NOW, 'UTC').reservationAt?.toISOString()).toBe('2026-12-01T09:00:00.000Z');
  });

  type Bad = [name: string, over: Partial<MailRequestInput>, field: string, rule: RegExp];
  const bad: Bad[] = [
    ['reservationUtc 1 ms in the past', { reservationUtc: NOW.getTime() - 1 }, 'reservationUtc', /past/],
    ['reservationUtc 0', { reservationUtc: 0 }, 'reservationUtc', /past/],
    ['reservationUtc 30 days + 1 ms', { reservationUtc: NOW.getTime() + 30 * DAY + 1 }, 'reservationUtc', /30 days/],
    ['reservationUtc NaN', { reservationUtc: Number.NaN }, 'reservationUtc', /valid/],
    ['reservationDateTime in the past (KST)', { reservationDateTime: '2026-11-15 11:59' }, 'reservationDateTime', /past/],
    ['reservationDateTime > 30 days', { reservationDateTime: '2026-12-15 12:01' }, 'reservationDateTime', /30 days/],
    ['reservationDateTime with seconds', { reservationDateTime: '2026-12-01 09:00:00' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
    ['reservationDateTime with T', { reservationDateTime: '2026-12-01T09:00' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
    ['reservationDateTime date only', { reservationDateTime: '2026-12-01' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
    ['reservationDateTime impossible date', { reservationDateTime: '2026-11-31 09:00' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
    ['reservationDateTime 24:00', { reservationDateTime: '2026-12-01 24:00' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
    ['reservationDateTime garbage', { reservationDateTime: 'tomorrow' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
    ['reservationDateTime single-digit hour', { reservationDateTime: '2026-12-01 9:00' }, 'reservationDateTime', /yyyy-MM-dd HH:mm/],
  ];
  it.each(bad)('%s → throws', (_name, over, field, rule) => {
    const err = expectBadRequest(() => validate(over), field);
    expect(err.message.startsWith(`${field}:`)).toBe(true);
    expect(err.message).toMatch(rule);
  });

  it('exactly 30 days ahead via reservationDateTime is accepted', () => {
    // NOW is 2026-11-15 12:00 KST
    expect(validate({ reservationDateTime: '2026-12-15 12:00' }).reservationAt?.toISOString()).toBe('2026-12-15T03:00:00.000Z');
  });
});

describe('validateMailRequest: general mode (individual: false)', () => {
  const many = (type: string, n: number) => Array.from({ length: n }, (_, i) => ({ address: `${type.toLowerCase()}${i}@example.com`, type }));

  it('allows C and B', () => {
    const v = validate({ individual: false, recipients: [...many('R', 1), ...many('C', 2), ...many('B', 3)] });
    expect(v.individual).toBe(false);
    expect(v.recipients.map((r) => r.type)).toEqual(['R', 'C', 'C', 'B', 'B', 'B']);
  });

  type Row = [name: string, recipients: { address: string; type: string }[], ok: boolean];
  const rows: Row[] = [
    ['1000 R', many('R', 1000), true],
    ['1001 R', many('R', 1001), false],
    ['30 C', [...many('R', 1), ...many('C', 30)], true],
    ['31 C', [...many('R', 1), ...many('C', 31)], false],
    ['30 B', [...many('R', 1), ...many('B', 30)], true],
    ['31 B', [...many('R', 1), ...many('B', 31)], false],
  ];
  it.each(rows)('%s', (_name, recipients, ok) => {
    if (ok) expect(() => validate({ individual: false, recipients })).not.toThrow();
    else expectBadRequest(() => validate({ individual: false, recipients }), 'recipients');
  });

  it('1001 R is fine in individual mode', () => {
    expect(() => validate({ recipients: many('R', 1001) })).not.toThrow();
  });

  it.each(['#{RECIPIENT_NAME}', '#{RECIPIENT_ADDRESS}', '#{UNSUBSCRIBE_URL}'])('meta tag %s in the body is rejected', (tag) => {
    const err = expectBadRequest(() => validate({ individual: false, body: `Hi ${tag}` }), 'body');
    expect(err.message).toContain(tag);
  });

  it('meta tag in the title is rejected and the message names title', () => {
    const err = expectBadRequest(() => validate({ individual: false, title: 'Hi #{RECIPIENT_NAME}' }), /meta tag/);
    expect(err.message).toContain('#{RECIPIENT_NAME}');
    expect(err.message.startsWith('title:')).toBe(true);
  });

  it('user tags are fine in general mode', () => {
    expect(() => validate({ individual: false, title: '${NAME}', body: '${NAME} and ${OTHER TAG}', parameters: { NAME: 'x' } })).not.toThrow();
  });

  it.each([
    ['title', { title: 'Hi #{FOO}' }, '#{FOO}'],
    ['body', { body: '<p>#{recipient_name}</p>' }, '#{recipient_name}'],
    ['body', { individual: false, body: 'x #{BAR}' }, '#{BAR}'],
    ['unsubscribeMessage', { advertising: true, useBasicUnsubscribeMsg: false, unsubscribeMessage: 'stop: #{UNSUBSCRIBE_LINK}' }, '#{UNSUBSCRIBE_LINK}'],
  ] as [string, Record<string, unknown>, string][])('an unknown or wrongly-cased meta tag in %s is refused, naming it', (field, input, tag) => {
    const err = expectBadRequest(() => validate(input), new RegExp(`^${field}: unknown meta tag`));
    expect(err.message).toContain(tag);
    expect(err.message).toContain('#{RECIPIENT_NAME}');
  });

  it('meta tags are fine in individual mode', () => {
    expect(() => validate({ title: '#{RECIPIENT_NAME}', body: '#{SENDER_NAME}' })).not.toThrow();
  });
});

describe('validateMailRequest: parameters', () => {
  type Row = [name: string, input: Record<string, unknown> | null | undefined, expected: Record<string, string> | null];
  const rows: Row[] = [
    ['undefined', undefined, null],
    ['null', null, null],
    ['empty object', {}, null],
    ['only nulls', { a: null, b: undefined }, null],
    ['strings kept', { NAME: 'Kim', EMPTY: '' }, { NAME: 'Kim', EMPTY: '' }],
    ['numbers to strings', { N: 42, F: 1.5, Z: 0, NEG: -3 }, { N: '42', F: '1.5', Z: '0', NEG: '-3' }],
    ['booleans to strings', { T: true, F: false }, { T: 'true', F: 'false' }],
    ['nulls skipped', { A: 'a', B: null }, { A: 'a' }],
  ];
  it.each(rows)('request parameters: %s', (_name, input, expected) => {
    expect(validate({ parameters: input }).parameters).toEqual(expected);
  });
  it.each(rows)('recipient parameters: %s', (_name, input, expected) => {
    expect(validate({ recipients: [{ address: 'a@b.co', parameters: input }] }).recipients[0]!.parameters).toEqual(expected);
  });

  it.each([
    ['object', { A: { x: 1 } }],
    ['array', { A: ['x'] }],
  ] as [string, Record<string, unknown>][])('%s value throws naming the parameter', (_name, params) => {
    expectBadRequest(() => validate({ parameters: params }), 'parameters.A');
    expectBadRequest(() => validate({ recipients: [{ address: 'a@b.co' }, { address: 'b@b.co', parameters: params }] }), 'recipients[1].parameters.A');
  });
});

describe('validateMailRequest: deferred recipients', () => {
  const inputs: unknown[] = [
    { address: '  a@example.com ', name: 'A', type: 'R', parameters: { N: 1, M: null } },
    { address: 'b@example.com', name: '', parameters: JSON.parse('{"K":true,"__proto__":"x"}') },
    { address: 'c@example.com', name: '김', type: 'R' },
    { address: 'd@example.com', parameters: { Q: 'say "hi"\n' } },
    { address: 'e@example.com', type: 'R' },
  ];
  const texts = inputs.map((r) => JSON.stringify(r));
  const deferred = { length: inputs.length, bytes: texts.reduce((n, t) => n + Buffer.byteLength(t), 0), at: (i: number) => JSON.parse(texts[i]!) };
  const run = (keptJsonBytes?: number, given = deferred) => validateMailRequest(base({ recipients: [] }), NOW, TZ, given, keptJsonBytes).deferredRecipients!;

  it('keeps the normalised JSON of every slice: the text JSON.stringify gives of the slice parsed again', () => {
    const slices = run();
    expect(slices.json).toBeDefined();
    for (const [from, to] of [
      [0, 2],
      [2, 4],
      [4, 6],
      [0, 5],
      [3, 3],
    ] as const) {
      expect(slices.json!(from, to)).toBe(JSON.stringify(slices.slice(from, to)));
    }
    expect(JSON.parse(slices.json!(0, 2))).toEqual([
      { address: 'a@example.com', name: 'A', type: 'R', parameters: { N: '1' } },
      { address: 'b@example.com', name: null, type: 'R', parameters: JSON.parse('{"K":"true","__proto__":"x"}') },
    ]);
    expect(slices.json!(1, 2)).toContain('"__proto__":"x"');
  });

  it('keeps nothing for recipients of more bytes in the body than its budget, and drops what it kept once the text outgrows it', () => {
    const kept = run().json!(0, 5);
    // the recipients' bytes in the body decide first
    expect(run(1000, { ...deferred, bytes: 1001 }).json).toBeUndefined();
    expect(run(1000, { ...deferred, bytes: 1000 }).json).toBeDefined();
    // then the text's memory, each recipient's text and a comma: a string with a character past
    // U+00FF takes two bytes a character ("김" makes c's so)
    const body = { ...deferred, bytes: 0 };
    const asStored = kept.length - 1 + JSON.stringify(run().slice(2, 3)[0]).length + 1;
    expect(run(asStored, body).json).toBeDefined();
    expect(run(asStored - 1, body).json).toBeUndefined();
    // either way, the slices are what they were
    expect(run(0).slice(0, 5)).toEqual(run().slice(0, 5));
  });
});
