import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/shared/errors.ts';
import { parseFilters, parseResultCodes, statusCodesOf } from '../../src/modules/mails/view-filters.ts';
import { parseViewFilters } from '../../src/modules/mails/view-rows.ts';
import { boundedCount, countLimit, COUNT_CAP, likeContains } from '../../src/modules/mails/view-sql.ts';

const KST = 'Asia/Seoul';
const NOW = new Date('2025-03-15T03:00:00.000Z');
const opts = { timeZone: KST, now: NOW };

function expectBadRequest(fn: () => unknown, message: RegExp) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('77102');
  expect((err as AppError).message).toMatch(message);
}

describe('parseFilters: one search bar for every view', () => {
  it('parses every filter the same way on each view', () => {
    const raw = {
      startDateTime: '2025-01-01',
      endDateTime: '2025-01-31',
      requestId: '20250101000000000001',
      mailId: '20250101000000000002',
      recipientAddress: ' Kim@Example.com ',
      senderAddress: 'a@b.c',
      title: 'Sale',
      templateSid: '42',
      dispatchType: 'console',
      sendStatus: ['s', 'F'],
      sendResultCode: 'mail_sent,RECIPIENT_ADDRESS_ERROR',
    };
    const expected = {
      range: { start: new Date('2024-12-31T15:00:00.000Z'), end: new Date('2025-01-31T14:59:59.999Z') },
      requestId: { day: 20250101, seq: 1n },
      mailId: { day: 20250101, seq: 2n },
      recipientAddress: 'Kim@Example.com',
      senderAddress: 'a@b.c',
      title: 'Sale',
      templateSid: '42',
      dispatchType: 'CONSOLE',
      sendStatus: ['S', 'F'],
      sendResultCode: ['MAIL_SENT', 'RECIPIENT_ADDRESS_ERROR'],
    };
    for (const view of ['requests', 'mails', 'recipients'] as const) expect(parseFilters(view, raw, opts)).toEqual(expected);
  });

  it("checks sendStatus against the view's own statuses", () => {
    expect(statusCodesOf('requests')).toContain('P');
    expect(parseFilters('requests', { sendStatus: 'PF' }, opts).sendStatus).toEqual(['PF']);
    expect(parseFilters('mails', { sendStatus: 'PF' }, opts).sendStatus).toEqual(['PF']);
    expectBadRequest(() => parseFilters('recipients', { sendStatus: 'PF' }, opts), /^sendStatus: unknown status "PF" \(allowed: R, I, S, F, U, C\)$/);
    expectBadRequest(() => parseFilters('mails', { sendStatus: 'P' }, opts), /^sendStatus: unknown status "P"/);
  });

  it('refuses unknown result codes, an inverted range, a bad dispatchType or templateSid, naming the field', () => {
    expectBadRequest(() => parseResultCodes(['MAIL_SENT', 'NOPE']), /^sendResultCode: unknown send result code "NOPE" \(allowed: MAIL_SENT, /);
    expectBadRequest(() => parseFilters('recipients', { startUtc: '2000', endUtc: '1000' }, opts), /^startUtc must not be after endUtc$/);
    expectBadRequest(() => parseFilters('recipients', { dispatchType: 'SMTP' }, opts), /^dispatchType: /);
    expectBadRequest(() => parseFilters('recipients', { templateSid: '-1' }, opts), /^templateSid: /);
    expectBadRequest(() => parseFilters('recipients', { templateSid: '1'.repeat(19) }, opts), /^templateSid: /);
    expectBadRequest(() => parseFilters('recipients', { title: { a: 1 } }, opts), /^title: /);
    expectBadRequest(() => parseFilters('requests', { recipientAddress: 'a\u0000b' }, opts), /^recipientAddress: must not contain NUL characters$/);
  });

  it('gives the request and recipient views the two-month default window, not the mail view, nor a lookup by id', () => {
    expect(parseFilters('recipients', {}, { ...opts, defaultWindow: true }).range.start).toEqual(new Date('2025-01-15T03:00:00.000Z'));
    expect(parseFilters('recipients', { requestId: 'x' }, { ...opts, defaultWindow: true })).toMatchObject({ range: { start: undefined }, requestId: null });
    expect(parseFilters('mails', {}, opts).range.start).toBeUndefined();
    expect(parseViewFilters('recipients', {}, opts).range.start).toEqual(new Date('2025-01-15T03:00:00.000Z'));
    expect(parseViewFilters('mails', { requestId: '20250101000000000001' }, opts).range.start).toBeUndefined();
    expectBadRequest(() => parseViewFilters('mails', {}, opts), /^requestId: /);
  });

  it('treats empty values as absent', () => {
    expect(parseFilters('recipients', { title: '  ', sendStatus: '', recipientAddress: '' }, opts)).toMatchObject({
      title: undefined,
      sendStatus: undefined,
      recipientAddress: undefined,
    });
  });
});

describe('view-sql helpers', () => {
  it('escapes LIKE wildcards', () => {
    expect(likeContains('100%_off\\')).toBe('%100\\%\\_off\\\\%');
  });

  it('counts up to the cap or to the end of a deep page', () => {
    expect(countLimit({ page: 0, size: 10 })).toBe(COUNT_CAP + 1);
    expect(countLimit({ page: 50, size: 1000 })).toBe(51_001);
  });

  it('needs no count for a page that is not full', async () => {
    const db = { transaction: () => ({ execute: (fn: (tx: unknown) => Promise<number>) => fn({}) }) } as never;
    const never = async () => {
      throw new Error('no count expected');
    };
    expect(await boundedCount(db, { page: 0, size: 10 }, 3, false, never)).toEqual({ total: 3, exact: true });
    expect(await boundedCount(db, { page: 2, size: 10 }, 4, false, never)).toEqual({ total: 24, exact: true });
  });
});
