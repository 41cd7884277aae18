import { describe, it, expect } from '@jest/globals';
import { toNesDateTime, parseZonedDateTime, formatElapsed, dayNumber, zonedParts } from '../../src/shared/clock.ts';
import { validateMailRequest } from '../../src/modules/requests/validate-mail-request.ts';

const KST = 'Asia/Seoul';
const NY = 'America/New_York';

describe('toNesDateTime', () => {
  type Row = [name: string, iso: string, tz: string, formattedDate: string, formattedDateTime: string];
  const rows: Row[] = [
    ['NCP doc example', new Date(1542694793240).toISOString(), KST, '2018-11-20', '2018-11-20 15:19:53 240'],
    ['KST midnight is 00, not 24', '2018-11-19T15:00:00.000Z', KST, '2018-11-20', '2018-11-20 00:00:00 000'],
    ['last ms of a KST day', '2018-11-20T14:59:59.999Z', KST, '2018-11-20', '2018-11-20 23:59:59 999'],
    ['UTC zone', '2018-11-20T06:19:53.007Z', 'UTC', '2018-11-20', '2018-11-20 06:19:53 007'],
    ['New York in winter (UTC-5)', '2025-01-15T12:00:00.050Z', NY, '2025-01-15', '2025-01-15 07:00:00 050'],
    ['New York in summer (UTC-4)', '2025-07-15T12:00:00.000Z', NY, '2025-07-15', '2025-07-15 08:00:00 000'],
    ['previous day in New York', '2025-07-15T02:00:00.000Z', NY, '2025-07-14', '2025-07-14 22:00:00 000'],
    ['half-hour zone', '2025-07-15T00:00:00.000Z', 'Asia/Kolkata', '2025-07-15', '2025-07-15 05:30:00 000'],
    ['leap day', '2024-02-29T00:00:00.000Z', KST, '2024-02-29', '2024-02-29 09:00:00 000'],
  ];
  it.each(rows)('%s', (_name, iso, tz, formattedDate, formattedDateTime) => {
    const d = new Date(iso);
    expect(toNesDateTime(d, tz)).toEqual({ utc: d.getTime(), formattedDate, formattedDateTime });
  });

  it('the doc example has utc 1542694793240', () => {
    expect(toNesDateTime(new Date(1542694793240), KST)!.utc).toBe(1542694793240);
  });

  it.each([null, undefined])('%s → null', (v) => {
    expect(toNesDateTime(v, KST)).toBeNull();
  });
});

describe('zonedParts', () => {
  it('pads every part', () => {
    expect(zonedParts(new Date('2025-01-02T00:03:04.005Z'), 'UTC')).toEqual({
      year: '2025',
      month: '01',
      day: '02',
      hour: '00',
      minute: '03',
      second: '04',
      ms: '005',
    });
  });
});

describe('parseZonedDateTime', () => {
  type Row = [text: string, tz: string, iso: string];
  const rows: Row[] = [
    // the four NCP formats, in KST
    ['2018-11-20', KST, '2018-11-19T15:00:00.000Z'],
    ['2018-11-20 15:19', KST, '2018-11-20T06:19:00.000Z'],
    ['2018-11-20 15:19:53.240', KST, '2018-11-20T06:19:53.240Z'],
    ['2018-11-20 15:19:53 240', KST, '2018-11-20T06:19:53.240Z'],
    // variants the pattern also takes
    ['2018-11-20 15:19:53', KST, '2018-11-20T06:19:53.000Z'],
    ['2018-11-20T15:19', KST, '2018-11-20T06:19:00.000Z'],
    ['  2018-11-20 15:19  ', KST, '2018-11-20T06:19:00.000Z'],
    ['2018-11-20 15:19:53.5', KST, '2018-11-20T06:19:53.500Z'], // fraction, not 5 ms
    ['2018-11-20 15:19:53.05', KST, '2018-11-20T06:19:53.050Z'],
    ['2018-11-20 00:00', KST, '2018-11-19T15:00:00.000Z'],
    ['2018-11-20 23:59:59.999', KST, '2018-11-20T14:59:59.999Z'],
    ['2024-02-29', 'UTC', '2024-02-29T00:00:00.000Z'],
    ['2025-12-31 23:59', 'UTC', '2025-12-31T23:59:00.000Z'],
    ['2025-07-15 05:30', 'Asia/Kolkata', '2025-07-15T00:00:00.000Z'],
    // New York around the DST changes (2025-03-09 02:00 EST → 03:00 EDT; 2025-11-02 02:00 EDT → 01:00 EST)
    ['2025-03-09 01:59', NY, '2025-03-09T06:59:00.000Z'],
    ['2025-03-09 03:00', NY, '2025-03-09T07:00:00.000Z'],
    ['2025-03-09 03:30', NY, '2025-03-09T07:30:00.000Z'],
    ['2025-03-08 12:00', NY, '2025-03-08T17:00:00.000Z'],
    ['2025-03-10 12:00', NY, '2025-03-10T16:00:00.000Z'],
    ['2025-11-02 00:30', NY, '2025-11-02T04:30:00.000Z'],
    ['2025-11-02 02:00', NY, '2025-11-02T07:00:00.000Z'],
    ['2025-11-02 02:30', NY, '2025-11-02T07:30:00.000Z'],
    ['2025-11-02 03:00', NY, '2025-11-02T08:00:00.000Z'],
    // Berlin (positive offset) around its changes
    ['2025-03-30 01:30', 'Europe/Berlin', '2025-03-30T00:30:00.000Z'],
    ['2025-03-30 03:30', 'Europe/Berlin', '2025-03-30T01:30:00.000Z'],
    ['2025-10-26 01:30', 'Europe/Berlin', '2025-10-25T23:30:00.000Z'],
    ['2025-10-26 03:30', 'Europe/Berlin', '2025-10-26T02:30:00.000Z'],
  ];
  it.each(rows)('%j in %s → %s', (text, tz, iso) => {
    expect(parseZonedDateTime(text, tz)?.toISOString()).toBe(iso);
  });

  it('round-trips through toNesDateTime', () => {
    for (const tz of [KST, NY, 'UTC', 'Europe/Berlin']) {
      const text = '2025-06-01 10:20:30 456';
      expect(toNesDateTime(parseZonedDateTime(text, tz), tz)!.formattedDateTime).toBe(text);
    }
  });

  it('an ambiguous New York time (fall back, 01:30 happens twice) gives one of its two instants', () => {
    const d = parseZonedDateTime('2025-11-02 01:30', NY)!;
    expect(['2025-11-02T05:30:00.000Z', '2025-11-02T06:30:00.000Z']).toContain(d.toISOString());
    expect(toNesDateTime(d, NY)!.formattedDateTime).toBe('2025-11-02 01:30:00 000');
  });

  it('an ambiguous time (fall back) is the first of its two instants', () => {
    expect(parseZonedDateTime('2025-11-02 01:30', NY)!.toISOString()).toBe('2025-11-02T05:30:00.000Z'); // 01:30 EDT
    expect(parseZonedDateTime('2025-10-26 02:30', 'Europe/Berlin')!.toISOString()).toBe('2025-10-26T00:30:00.000Z'); // 02:30 CEST
  });

  type Gap = [text: string, tz: string, iso: string, shown: string];
  const gaps: Gap[] = [
    // 02:00 EST -> 03:00 EDT: 02:30 does not exist; read at UTC-5, it is 03:30 EDT
    ['2027-03-14 02:30', NY, '2027-03-14T07:30:00.000Z', '2027-03-14 03:30:00 000'],
    ['2025-03-09 02:30', NY, '2025-03-09T07:30:00.000Z', '2025-03-09 03:30:00 000'],
    ['2025-03-09 02:00', NY, '2025-03-09T07:00:00.000Z', '2025-03-09 03:00:00 000'],
    ['2025-03-09 02:59', NY, '2025-03-09T07:59:00.000Z', '2025-03-09 03:59:00 000'],
    ['2025-03-30 02:30', 'Europe/Berlin', '2025-03-30T01:30:00.000Z', '2025-03-30 03:30:00 000'],
    // Lord Howe moves by 30 minutes
    ['2025-10-05 02:15', 'Australia/Lord_Howe', '2025-10-04T15:45:00.000Z', '2025-10-05 02:45:00 000'],
  ];
  it.each(gaps)('%j in %s (a DST gap) is the instant after the gap: %s (%s)', (text, tz, iso, shown) => {
    const d = parseZonedDateTime(text, tz)!;
    expect(d.toISOString()).toBe(iso);
    expect(toNesDateTime(d, tz)!.formattedDateTime).toBe(shown);
  });

  type Year = [text: string, tz: string, iso: string];
  const years: Year[] = [
    ['0030-06-01 10:00', 'UTC', '0030-06-01T10:00:00.000Z'],
    ['0099-12-31 23:59', 'UTC', '0099-12-31T23:59:00.000Z'],
    ['0001-01-01', 'UTC', '0001-01-01T00:00:00.000Z'],
    ['0000-01-01', 'UTC', '0000-01-01T00:00:00.000Z'],
    ['0100-03-01', 'UTC', '0100-03-01T00:00:00.000Z'],
  ];
  it.each(years)('%j in %s is that year, not 19xx: %s', (text, tz, iso) => {
    expect(parseZonedDateTime(text, tz)?.toISOString()).toBe(iso);
  });

  it('years 0-99 in a zone keep their year and show as four digits', () => {
    for (const tz of [KST, NY]) {
      const d = parseZonedDateTime('0030-06-01 10:00', tz)!;
      expect(d.getUTCFullYear()).toBe(30);
      expect(toNesDateTime(d, tz)!.formattedDateTime).toBe('0030-06-01 10:00:00 000');
    }
    expect(parseZonedDateTime('0004-02-29', 'UTC')?.toISOString()).toBe('0004-02-29T00:00:00.000Z'); // year 4 is a leap year
    expect(parseZonedDateTime('0100-02-29', 'UTC')).toBeUndefined(); // year 100 is not
  });

  const invalid: string[] = [
    '',
    'garbage',
    '2025-02-30',
    '2025-02-29', // not a leap year
    '2025-04-31',
    '2025-13-01',
    '2025-00-10',
    '2025-01-00',
    '2025-01-01 24:00',
    '2025-01-01 23:60',
    '2025-01-01 23:59:60',
    '2025-1-01',
    '25-01-01',
    '2025/01/01',
    '2025-01-01 9:00',
    '2025-01-01 09',
    '2025-01-01 09:00:00.1234',
    '2025-01-01 09:00 KST',
    '2025-01-01T09:00:00Z',
  ];
  it.each(invalid)('%j → undefined', (text) => {
    expect(parseZonedDateTime(text, KST)).toBeUndefined();
  });
});

describe('formatElapsed', () => {
  type Row = [ms: number, expected: string];
  const rows: Row[] = [
    [0, '00:00:00.000'],
    [1, '00:00:00.001'],
    [999, '00:00:00.999'],
    [1000, '00:00:01.000'],
    [61_001, '00:01:01.001'],
    [3_600_000, '01:00:00.000'],
    [86_399_999, '23:59:59.999'],
    [86_400_000, '24:00:00.000'],
    [479 * 3_600_000 + 49 * 60_000 + 34_000 + 573, '479:49:34.573'],
    [-5, '00:00:00.000'],
    [1.4, '00:00:00.001'],
    [1.5, '00:00:00.002'],
    [999.6, '00:00:01.000'],
  ];
  it.each(rows)('%d ms → %s', (ms, expected) => {
    expect(formatElapsed(ms)).toBe(expected);
  });
});

describe('dayNumber', () => {
  type Row = [iso: string, tz: string, expected: number];
  const rows: Row[] = [
    ['2018-11-20T06:19:53.240Z', KST, 20181120],
    ['2018-11-19T15:00:00.000Z', KST, 20181120],
    ['2018-11-19T14:59:59.999Z', KST, 20181119],
    ['2018-11-19T15:00:00.000Z', 'UTC', 20181119],
    ['2026-01-01T02:00:00.000Z', NY, 20251231],
  ];
  it.each(rows)('%s in %s → %i', (iso, tz, expected) => {
    expect(dayNumber(new Date(iso), tz)).toBe(expected);
  });
});

describe('reservationDateTime (validateMailRequest over parseZonedDateTime)', () => {
  const NOW = new Date('2027-03-01T00:00:00.000Z');
  const input = (reservationDateTime: string) => ({
    senderAddress: 'a@example.com',
    title: 't',
    body: 'b',
    recipients: [{ address: 'r@example.com' }],
    reservationDateTime,
  });

  it.each(['0030-01-01 10:00', '0099-12-31 23:59', '0000-01-01 00:00'])('%j is refused as in the past, not moved to 19xx', (text) => {
    expect(() => validateMailRequest(input(text), NOW, KST)).toThrow('reservationDateTime: the reservation time is in the past');
  });

  it('a time in a DST gap is reserved for the instant after the gap', () => {
    expect(validateMailRequest(input('2027-03-14 02:30'), NOW, NY).reservationAt?.toISOString()).toBe('2027-03-14T07:30:00.000Z');
  });
});
