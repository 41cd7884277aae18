import { describe, it, expect } from '@jest/globals';
import {
  DEFAULT_MAIL_SORT,
  DEFAULT_REQUEST_SORT,
  REQUEST_SORT_PROPERTIES,
  parseMailListQuery,
  parseRequestListQuery,
} from '../../src/modules/mails/list-query.ts';
import { MAIL_STATUSES as MAIL_STATUS_CODES, REQUEST_STATUSES as REQUEST_STATUS_CODES } from '../../src/shared/statuses.ts';
import { parsePaging, parseSort, toPage, totalFromPage } from '../../src/http/paging.ts';
import { parseDateRange, parseMultiValue, parseStatuses } from '../../src/http/query-params.ts';
import { AppError } from '../../src/shared/errors.ts';

const KST = 'Asia/Seoul';
const NOW = new Date('2025-03-15T03:00:00.000Z');
const VIEW_OPTS = { timeZone: KST, now: NOW };

/** The AppError a call throws (fails the test when it does not throw one). */
function errorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

function expectBadRequest(fn: () => unknown, messagePart: string | RegExp) {
  const err = errorOf(fn);
  expect(err.status).toBe(400);
  expect(err.code).toBe('77102');
  expect(err.message).toMatch(messagePart);
}

describe('parsePaging', () => {
  it('defaults to page 0, size 10', () => {
    expect(parsePaging({})).toEqual({ page: 0, size: 10 });
    expect(parsePaging({ page: '', size: '' })).toEqual({ page: 0, size: 10 });
  });

  it('takes coerced numbers and raw strings', () => {
    expect(parsePaging({ page: 3, size: 50 })).toEqual({ page: 3, size: 50 });
    expect(parsePaging({ page: '2', size: '1000' })).toEqual({ page: 2, size: 1000 });
    expect(parsePaging({ page: ['4', '9'] })).toEqual({ page: 4, size: 10 });
  });

  it.each([
    [{ size: 0 }, 'size'],
    [{ size: 1001 }, 'size'],
    [{ size: '-5' }, 'size'],
    [{ size: '10.5' }, 'size'],
    [{ size: 'ten' }, 'size'],
    [{ page: -1 }, 'page'],
    [{ page: '1e3' }, 'page'],
    [{ page: 2_147_483_648 }, 'page'],
    [{ page: { a: '1' } }, 'page'],
  ])('refuses %j naming %s', (query, field) => {
    expectBadRequest(() => parsePaging(query), new RegExp(`^${field}: `));
  });
});

describe('parseSort', () => {
  const allowed = REQUEST_SORT_PROPERTIES;

  it('uses the default when absent or empty', () => {
    expect(parseSort(undefined, allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'createUtc', direction: 'DESC' }]);
    expect(parseSort('', allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'createUtc', direction: 'DESC' }]);
    expect(parseSort([], allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'createUtc', direction: 'DESC' }]);
  });

  it('defaults the direction to ASC and reads it case-insensitively', () => {
    expect(parseSort('recipientCount', allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'recipientCount', direction: 'ASC' }]);
    expect(parseSort('sendUtc,desc', allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'sendUtc', direction: 'DESC' }]);
    expect(parseSort('sendUtc, DESC', allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'sendUtc', direction: 'DESC' }]);
  });

  it('takes repeated values in order, and several properties sharing one direction', () => {
    expect(parseSort(['statusCode,desc', 'createUtc'], allowed, DEFAULT_REQUEST_SORT)).toEqual([
      { property: 'statusCode', direction: 'DESC' },
      { property: 'createUtc', direction: 'ASC' },
    ]);
    expect(parseSort('statusCode,recipientCount,desc', allowed, DEFAULT_REQUEST_SORT)).toEqual([
      { property: 'statusCode', direction: 'DESC' },
      { property: 'recipientCount', direction: 'DESC' },
    ]);
  });

  it('keeps the first order of a repeated property', () => {
    expect(parseSort(['createUtc,asc', 'createUtc,desc'], allowed, DEFAULT_REQUEST_SORT)).toEqual([{ property: 'createUtc', direction: 'ASC' }]);
  });

  it('refuses properties outside the view whitelist, naming sort and the allowed ones', () => {
    expectBadRequest(
      () => parseSort('title', allowed, DEFAULT_REQUEST_SORT),
      /^sort: unknown property "title" \(allowed: createUtc, recipientCount, reservationUtc, sendUtc, statusCode\)$/,
    );
    expectBadRequest(() => parseSort('createUtc,up', allowed, DEFAULT_REQUEST_SORT), /^sort: unknown property "up"/);
    expectBadRequest(() => parseSort('desc', allowed, DEFAULT_REQUEST_SORT), /^sort: /);
    expectBadRequest(
      () => parseMailListQuery({ sort: 'recipientCount' }, VIEW_OPTS),
      /^sort: unknown property "recipientCount" \(allowed: id, createUtc, statusCode\)$/,
    );
  });
});

describe('multi-valued filters', () => {
  it('accepts repeated keys, comma-separated values and both mixed', () => {
    expect(parseMultiValue('S', 'sendStatus')).toEqual(['S']);
    expect(parseMultiValue('S,F', 'sendStatus')).toEqual(['S', 'F']);
    expect(parseMultiValue(['S', 'PF'], 'sendStatus')).toEqual(['S', 'PF']);
    expect(parseMultiValue(['S,F', ' PF ', 'S'], 'sendStatus')).toEqual(['S', 'F', 'PF']);
    expect(parseMultiValue(['', ','], 'sendStatus')).toBeUndefined();
    expect(parseMultiValue(undefined, 'sendStatus')).toBeUndefined();
  });

  it('reads status codes case-insensitively', () => {
    expect(parseStatuses('s,pf', REQUEST_STATUS_CODES)).toEqual(['S', 'PF']);
    expect(parseStatuses(['S', 's'], REQUEST_STATUS_CODES)).toEqual(['S']);
  });

  it('refuses an unknown status, naming sendStatus and the allowed codes', () => {
    expectBadRequest(() => parseStatuses('S,X', REQUEST_STATUS_CODES), /^sendStatus: unknown status "X" \(allowed: P, R, I, S, F, U, C, PF\)$/);
    // P exists only at request level
    expectBadRequest(() => parseStatuses(['P'], MAIL_STATUS_CODES), /^sendStatus: unknown status "P" \(allowed: R, I, S, F, U, C, PF\)$/);
  });
});

describe('parseDateRange', () => {
  it('reads string dates in the display time zone', () => {
    const r = parseDateRange({ startDateTime: '2025-01-01 09:30', endDateTime: '2025-01-02 23:59:59.123' }, KST);
    expect(r.start?.toISOString()).toBe('2025-01-01T00:30:00.000Z');
    expect(r.end?.toISOString()).toBe('2025-01-02T14:59:59.123Z');
    expect(parseDateRange({ startDateTime: '2025-01-01 09:30:15 250' }, KST).start?.toISOString()).toBe('2025-01-01T00:30:15.250Z');
  });

  it('takes a date-only end as the end of that day, and an end to the minute as the whole minute', () => {
    expect(parseDateRange({ endDateTime: '2025-01-02' }, KST).end?.toISOString()).toBe('2025-01-02T14:59:59.999Z');
    expect(parseDateRange({ startDateTime: '2025-01-02' }, KST).start?.toISOString()).toBe('2025-01-01T15:00:00.000Z');
    expect(parseDateRange({ endDateTime: '2019-02-20 23:59' }, KST).end?.toISOString()).toBe('2019-02-20T14:59:59.999Z');
    expect(parseDateRange({ endDateTime: '2019-02-20 10:00:05' }, KST).end?.toISOString()).toBe('2019-02-20T01:00:05.999Z');
  });

  it('ends a date-only day where the zone ends it, also on a DST change', () => {
    // New York, 2025-03-09 has 23 hours: it ends at 04:00Z on the 10th (EDT, -4h).
    expect(parseDateRange({ endDateTime: '2025-03-09' }, 'America/New_York').end?.toISOString()).toBe('2025-03-10T03:59:59.999Z');
  });

  it('lets startUtc/endUtc win over the string forms', () => {
    const r = parseDateRange({ startUtc: 1_700_000_000_000, startDateTime: 'garbage', endUtc: '1700000100000', endDateTime: '2000-01-01' }, KST);
    expect(r.start?.getTime()).toBe(1_700_000_000_000);
    expect(r.end?.getTime()).toBe(1_700_000_100_000);
  });

  it('leaves absent ends open', () => {
    expect(parseDateRange({}, KST)).toEqual({ start: undefined, end: undefined });
  });

  it.each([
    [{ startDateTime: '2025-13-01' }, 'startDateTime'],
    [{ startDateTime: '2025-02-30' }, 'startDateTime'],
    [{ endDateTime: '2025/01/01' }, 'endDateTime'],
    [{ endDateTime: '2025-01-01 24:00' }, 'endDateTime'],
    [{ startUtc: 'yesterday' }, 'startUtc'],
    [{ endUtc: '1.5' }, 'endUtc'],
    [{ endUtc: 9e15 }, 'endUtc'],
  ])('refuses malformed %j naming %s', (query, field) => {
    expectBadRequest(() => parseDateRange(query, KST), new RegExp(`^${field}: `));
  });

  it('refuses a start after the end', () => {
    expectBadRequest(() => parseDateRange({ startDateTime: '2025-01-02', endDateTime: '2025-01-01' }, KST), /^startDateTime must not be after endDateTime$/);
    expectBadRequest(() => parseDateRange({ startUtc: 2000, endUtc: 1000 }, KST), /^startUtc must not be after endUtc$/);
    // the same day as start and end is one whole day, not inverted
    const day = parseDateRange({ startDateTime: '2025-01-01', endDateTime: '2025-01-01' }, KST);
    expect(day.end!.getTime() - day.start!.getTime()).toBe(86_400_000 - 1);
  });
});

describe('parseRequestListQuery', () => {
  const opts = { timeZone: KST, now: NOW };

  it('defaults to the last two months when no dates are given', () => {
    const q = parseRequestListQuery({}, opts);
    expect(q.range.start?.toISOString()).toBe('2025-01-15T03:00:00.000Z');
    expect(q.range.end).toBeUndefined();
    expect(q.paging).toEqual({ page: 0, size: 10 });
    expect(q.sort).toEqual([{ property: 'createUtc', direction: 'DESC' }]);
  });

  it('counts the default window back from a given end', () => {
    const q = parseRequestListQuery({ endDateTime: '2024-12-31' }, opts);
    expect(q.range.start?.toISOString()).toBe('2024-10-31T14:59:59.999Z');
  });

  it('gives a lookup by id no default window; a malformed id matches nothing', () => {
    expect(parseRequestListQuery({ requestId: '20250101000000000123' }, opts)).toMatchObject({
      range: { start: undefined, end: undefined },
      requestId: { day: 20250101, seq: 123n },
    });
    expect(parseRequestListQuery({ mailId: 'abc' }, opts).mailId).toBeNull();
  });

  it('parses every filter', () => {
    const q = parseRequestListQuery(
      {
        startUtc: 1000,
        endUtc: 2000,
        dispatchType: 'api',
        title: ' News ',
        templateSid: '42',
        senderAddress: 'a@b.com',
        recipientAddress: 'c@d.com',
        sendStatus: ['S', 'pf,F'],
        page: 1,
        size: 20,
        sort: 'statusCode,desc',
      },
      opts,
    );
    expect(q).toEqual({
      paging: { page: 1, size: 20 },
      sort: [{ property: 'statusCode', direction: 'DESC' }],
      range: { start: new Date(1000), end: new Date(2000) },
      requestId: undefined,
      mailId: undefined,
      dispatchType: 'API',
      title: 'News',
      templateSid: '42',
      senderAddress: 'a@b.com',
      recipientAddress: 'c@d.com',
      sendStatus: ['S', 'PF', 'F'],
    });
  });

  it('refuses a bad dispatchType or templateSid', () => {
    expectBadRequest(() => parseRequestListQuery({ dispatchType: 'SMTP' }, opts), /^dispatchType: must be one of CONSOLE, API$/);
    expectBadRequest(() => parseRequestListQuery({ templateSid: 'x' }, opts), /^templateSid: /);
  });
});

describe('parseMailListQuery', () => {
  it('defaults to mailId order', () => {
    expect(parseMailListQuery({}, VIEW_OPTS)).toEqual({
      paging: { page: 0, size: 10 },
      sort: [...DEFAULT_MAIL_SORT],
      range: { start: undefined, end: undefined },
      requestId: undefined,
      mailId: undefined,
      title: undefined,
      recipientAddress: undefined,
      senderAddress: undefined,
      templateSid: undefined,
      dispatchType: undefined,
      sendStatus: undefined,
      sendResultCode: undefined,
    });
    expect(DEFAULT_MAIL_SORT).toEqual([{ property: 'id', direction: 'ASC' }]);
  });

  it('parses its filters', () => {
    expect(parseMailListQuery({ mailId: '20250101000000000007', sendStatus: 'S,PF', sort: ['statusCode,desc', 'id'] }, VIEW_OPTS)).toMatchObject({
      mailId: { day: 20250101, seq: 7n },
      sendStatus: ['S', 'PF'],
      sort: [
        { property: 'statusCode', direction: 'DESC' },
        { property: 'id', direction: 'ASC' },
      ],
    });
  });
});

describe('toPage', () => {
  const sort = [{ property: 'createUtc', direction: 'DESC' as const }];

  it('builds the Spring page envelope in NCP key order', () => {
    const page = toPage(['a', 'b'], 8, { page: 0, size: 2 }, sort);
    expect(Object.keys(page)).toEqual(['content', 'last', 'totalElements', 'totalPages', 'first', 'numberOfElements', 'size', 'number', 'sort']);
    expect(page).toEqual({
      content: ['a', 'b'],
      last: false,
      totalElements: 8,
      totalPages: 4,
      first: true,
      numberOfElements: 2,
      size: 2,
      number: 0,
      sort: [{ direction: 'DESC', property: 'createUtc', ignoreCase: false, nullHandling: 'NATIVE', ascending: false, descending: true }],
    });
  });

  it('marks the last page', () => {
    expect(toPage(['g', 'h'], 8, { page: 3, size: 2 }, sort)).toMatchObject({ first: false, last: true, numberOfElements: 2, number: 3 });
    expect(toPage(['x'], 1, { page: 0, size: 10 }, sort)).toMatchObject({ first: true, last: true, totalPages: 1 });
  });

  it('answers an empty result and a page past the end with empty content', () => {
    expect(toPage([], 0, { page: 0, size: 10 }, sort)).toMatchObject({
      content: [],
      totalElements: 0,
      totalPages: 0,
      first: true,
      last: true,
      numberOfElements: 0,
    });
    expect(toPage([], 8, { page: 9, size: 2 }, sort)).toMatchObject({
      content: [],
      totalElements: 8,
      totalPages: 4,
      first: false,
      last: true,
      numberOfElements: 0,
      number: 9,
    });
  });

  it('reports ascending orders', () => {
    expect(toPage([], 0, { page: 0, size: 10 }, [{ property: 'id', direction: 'ASC' }]).sort).toEqual([
      { direction: 'ASC', property: 'id', ignoreCase: false, nullHandling: 'NATIVE', ascending: true, descending: false },
    ]);
  });
});

describe('totalFromPage', () => {
  it('knows the total from a page that is not full', () => {
    expect(totalFromPage(3, { page: 0, size: 10 })).toBe(3);
    expect(totalFromPage(3, { page: 2, size: 10 })).toBe(23);
    expect(totalFromPage(0, { page: 0, size: 10 })).toBe(0);
  });

  it('needs a count for a full page or an empty page past the start', () => {
    expect(totalFromPage(10, { page: 0, size: 10 })).toBeUndefined();
    expect(totalFromPage(0, { page: 5, size: 10 })).toBeUndefined();
  });
});
