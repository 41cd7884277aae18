import { describe, it, expect } from '@jest/globals';
import {
  langFromHeader,
  RESULT_CODES,
  resultCodeMessage,
  emailStatusLabel,
  recipientTypeLabel,
  reservationStatusLabel,
  EMAIL_STATUS_CODES,
} from '../../src/shared/i18n.ts';
import type { Lang } from '../../src/shared/i18n.ts';

const LANGS: Lang[] = ['en', 'ko', 'ja'];

describe('langFromHeader', () => {
  type Row = [header: string | string[] | undefined, lang: Lang];
  const rows: Row[] = [
    ['ko-KR', 'ko'],
    ['ko', 'ko'],
    ['KO-kr', 'ko'],
    ['ja-JP', 'ja'],
    ['ja', 'ja'],
    ['JA-JP', 'ja'],
    ['en-US', 'en'],
    ['en', 'en'],
    [undefined, 'en'],
    ['', 'en'],
    ['zh-CN', 'en'],
    ['fr-FR', 'en'],
    [['ko-KR', 'ja-JP'], 'ko'],
    [['ja-JP'], 'ja'],
    [[], 'en'],
  ];
  it.each(rows)('%j → %s', (header, lang) => {
    expect(langFromHeader(header)).toBe(lang);
  });
});

describe('result code messages', () => {
  it('RESULT_CODES has no duplicates', () => {
    expect(new Set(RESULT_CODES).size).toBe(RESULT_CODES.length);
  });

  const cells = RESULT_CODES.flatMap((code) => LANGS.map((lang) => [code, lang] as const));
  it.each(cells)('%s has a %s message', (code, lang) => {
    const msg = resultCodeMessage(code, lang);
    expect(typeof msg).toBe('string');
    expect(msg!.trim().length).toBeGreaterThan(0);
  });

  it.each(RESULT_CODES)('%s is translated (ko and ja texts differ from en)', (code) => {
    const en = resultCodeMessage(code, 'en');
    expect(resultCodeMessage(code, 'ko')).not.toBe(en);
    expect(resultCodeMessage(code, 'ja')).not.toBe(en);
  });

  it('examples', () => {
    expect(resultCodeMessage('MAIL_SENT', 'en')).toBe('Sent successfully.');
    expect(resultCodeMessage('MAIL_SENT', 'ko')).toBe('발송 성공했습니다.');
    expect(resultCodeMessage('MAIL_SENT', 'ja')).toBe('送信成功');
  });

  it.each([null, '', 'NOT_A_CODE', 'toString', 'constructor', '__proto__'])('%j → null', (code) => {
    expect(resultCodeMessage(code, 'en')).toBeNull();
  });
});

describe('status labels', () => {
  it('EMAIL_STATUS_CODES lists the eight statuses', () => {
    expect([...EMAIL_STATUS_CODES].sort()).toEqual(['C', 'F', 'I', 'P', 'PF', 'R', 'S', 'U']);
  });

  const cells = EMAIL_STATUS_CODES.flatMap((code) => LANGS.map((lang) => [code, lang] as const));
  it.each(cells)('email status %s has a %s label', (code, lang) => {
    const l = emailStatusLabel(code, lang);
    expect(l.code).toBe(code);
    expect(l.label).not.toBe(code);
    expect(l.label.length).toBeGreaterThan(0);
  });

  type Row = [fnName: string, fn: typeof emailStatusLabel, code: string, lang: Lang, label: string];
  const rows: Row[] = [
    ['emailStatusLabel', emailStatusLabel, 'S', 'en', 'Sent successfully'],
    ['emailStatusLabel', emailStatusLabel, 'S', 'ko', '발송성공'],
    ['emailStatusLabel', emailStatusLabel, 'S', 'ja', '送信成功'],
    ['emailStatusLabel', emailStatusLabel, 'PF', 'en', 'Partial failure'],
    ['emailStatusLabel', emailStatusLabel, 'F', 'ko', '발송실패'],
    ['emailStatusLabel', emailStatusLabel, 'I', 'ja', '送信中'],
    ['recipientTypeLabel', recipientTypeLabel, 'R', 'en', 'Recipient'],
    ['recipientTypeLabel', recipientTypeLabel, 'C', 'ko', '참조인'],
    ['recipientTypeLabel', recipientTypeLabel, 'B', 'ja', 'Bcc'],
    ['reservationStatusLabel', reservationStatusLabel, 'Y', 'en', 'Reserved'],
    ['reservationStatusLabel', reservationStatusLabel, 'N', 'ko', '즉시발송'],
    ['reservationStatusLabel', reservationStatusLabel, 'N', 'ja', '即時送信'],
  ];
  it.each(rows)('%s(%s, %s) → %s', (_fnName, fn, code, lang, label) => {
    expect(fn(code, lang)).toEqual({ label, code });
  });

  it.each(['R', 'C', 'B'])('recipient type %s has all three labels', (code) => {
    for (const lang of LANGS) expect(recipientTypeLabel(code, lang).label).not.toBe(code);
  });

  it.each(['Y', 'N'])('reservation status %s has all three labels', (code) => {
    for (const lang of LANGS) expect(reservationStatusLabel(code, lang).label).not.toBe(code);
  });

  it.each(['X', '', 'toString', 'constructor'])('unknown code %j → label is the code', (code) => {
    expect(emailStatusLabel(code, 'en')).toEqual({ label: code, code });
    expect(recipientTypeLabel(code, 'ko')).toEqual({ label: code, code });
    expect(reservationStatusLabel(code, 'ja')).toEqual({ label: code, code });
  });
});
