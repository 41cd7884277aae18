import { describe, expect, it } from '@jest/globals';
import { EXPORT_COLUMNS, EXPORT_VIEWS, columnWidths, headerRow, rowToCells, toCell } from '../../src/modules/exports/export-columns.ts';

describe('export columns', () => {
  it('every view has a header in en, ko and ja, no header twice, a width per column', () => {
    for (const view of EXPORT_VIEWS) {
      for (const lang of ['en', 'ko', 'ja'] as const) {
        const header = headerRow(view, lang);
        expect(header.every((h) => h.trim().length > 0)).toBe(true);
        expect(new Set(header).size).toBe(header.length);
      }
      expect(columnWidths(view)).toHaveLength(EXPORT_COLUMNS[view].length);
    }
    expect(headerRow('recipients', 'ja')).toContain('受信拒否状態かどうか');
    expect(headerRow('requests', 'ko')[0]).toBe('요청 ID');
  });

  it('turns API values into cells: labels, formatted dates, localised Y/N, empty for null, ids as text', () => {
    expect(toCell({ label: '発送成功', code: 'S' }, 'ja')).toBe('発送成功');
    expect(toCell({ utc: 1, formattedDate: '2026-11-27', formattedDateTime: '2026-11-27 11:30:00 123' }, 'en')).toBe('2026-11-27 11:30:00 123');
    expect(toCell(true, 'en')).toBe('Y');
    expect(toCell(false, 'ko')).toBe('N');
    expect(toCell(true, 'ja')).toBe('はい');
    expect(toCell(null, 'en')).toBeNull();
    expect(toCell(undefined, 'en')).toBeNull();
    expect(toCell('20261127000000000001', 'en')).toBe('20261127000000000001');
    expect(toCell(42, 'en')).toBe(42);
    expect(toCell(['a', 'b'], 'en')).toBe('["a","b"]');
  });

  it('a row becomes its cells in column order, missing fields empty', () => {
    const cells = rowToCells('mails', 'en')({ requestId: 'r1', mailId: 'm1', advertising: false, emailStatus: { label: 'Sent', code: 'S' } });
    const fields = EXPORT_COLUMNS.mails.map((c) => c.field);
    expect(cells).toHaveLength(fields.length);
    expect(cells[fields.indexOf('requestId')]).toBe('r1');
    expect(cells[fields.indexOf('mailId')]).toBe('m1');
    expect(cells[fields.indexOf('advertising')]).toBe('N');
    expect(cells[fields.indexOf('emailStatus')]).toBe('Sent');
    expect(cells[fields.indexOf('title')]).toBeNull();
  });
});
