import { describe, expect, it } from '@jest/globals';
import { historyRangeOf } from '../../src/db/history-range.ts';

describe('historyRangeOf', () => {
  it('holds every date given, and ends a millisecond after the last (created_at keeps microseconds a Date drops)', () => {
    const a = new Date('2026-11-30T23:59:59.999Z');
    const b = new Date('2026-12-01T00:00:00.000Z');
    expect(historyRangeOf([b, a, b])).toEqual({ from: a, to: new Date('2026-12-01T00:00:00.001Z') });
    expect(historyRangeOf([a])).toEqual({ from: a, to: new Date('2026-12-01T00:00:00.000Z') });
  });

  it('refuses no dates (a statement with an empty range would match nothing)', () => {
    expect(() => historyRangeOf([])).toThrow('no dates');
  });
});
