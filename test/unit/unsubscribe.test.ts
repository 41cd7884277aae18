import crypto from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { deriveUnsubscribeKey, openUnsubscribeToken, signUnsubscribeToken } from '../../src/modules/unsubscribes/unsubscribe-token.ts';
import { basicUnsubscribeMessage, langOfAdPrefix, placeUnsubscribeMessage, unsubscribeMessageFor } from '../../src/modules/unsubscribes/unsubscribe-message.ts';
import {
  escapeHtml,
  langFromAcceptLanguage,
  maskAddress,
  renderInvalidLinkPage,
  renderUnsubscribePage,
} from '../../src/modules/unsubscribes/unsubscribe-page.ts';
import { skipListedRecipients } from '../../src/modules/delivery/skip-listed-recipients.ts';
import type { MailRecipient } from '../../src/modules/delivery/build-message.ts';
import { htmlToText, templateToText } from '../../src/modules/delivery/request-context.ts';

const key = deriveUnsubscribeKey(crypto.randomBytes(32));
const claims = { projectId: '7', recipientId: '123456789', address: 'Hong@Example.com' };

describe('unsubscribe token', () => {
  it('is opaque base64url, stable per recipient, and opens to its project, recipient and address', () => {
    const token = signUnsubscribeToken(key, claims);
    expect(token).toMatch(/^[A-Za-z0-9_-]{64,}$/);
    expect(token.length).toBeLessThan(120);
    expect(Buffer.from(token, 'base64url').toString('latin1')).not.toMatch(/hong|example/i);
    expect(signUnsubscribeToken(key, claims)).toBe(token);
    expect(openUnsubscribeToken(key, token)).toEqual(claims);
    expect(signUnsubscribeToken(key, { ...claims, recipientId: '123456790' })).not.toBe(token);
    const unicode = { projectId: '1', recipientId: '2', address: '홍길동@例え.jp' };
    expect(openUnsubscribeToken(key, signUnsubscribeToken(key, unicode))).toEqual(unicode);
  });

  it('does not open under another key', () => {
    expect(openUnsubscribeToken(deriveUnsubscribeKey(crypto.randomBytes(32)), signUnsubscribeToken(key, claims))).toBeNull();
  });

  it('any edited byte (version, IV, sealed ids or address, tag) makes it invalid', () => {
    const buf = Buffer.from(signUnsubscribeToken(key, claims), 'base64url');
    for (let i = 0; i < buf.length; i++) {
      const edited = Buffer.from(buf);
      edited[i] = edited[i]! ^ 0x01;
      expect(openUnsubscribeToken(key, edited.toString('base64url'))).toBeNull();
    }
    // cut short or extended
    expect(openUnsubscribeToken(key, buf.subarray(0, buf.length - 1).toString('base64url'))).toBeNull();
    expect(openUnsubscribeToken(key, Buffer.concat([buf, Buffer.from([0])]).toString('base64url'))).toBeNull();
  });

  it('reads garbage as null, never throws', () => {
    for (const bad of [
      '',
      'x',
      'A'.repeat(63),
      'A'.repeat(64),
      'A'.repeat(2000),
      '!'.repeat(80),
      '%E0%A4%A'.padEnd(80, 'A'),
      '../../etc/passwd'.padEnd(80, 'A'),
      'AQ' + 'A'.repeat(90),
    ]) {
      expect(openUnsubscribeToken(key, bad)).toBeNull();
    }
    // a non-canonical spelling of valid bytes (unused low bits of the last character set) is refused
    const token = signUnsubscribeToken(key, claims);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token[token.length - 1]!);
    const twin = token.slice(0, -1) + alphabet[last ^ 1];
    if (Buffer.from(twin, 'base64url').equals(Buffer.from(token, 'base64url'))) expect(openUnsubscribeToken(key, twin)).toBeNull();
  });

  it('refuses to sign ids that are not positive integers', () => {
    expect(() => signUnsubscribeToken(key, { projectId: 'x', recipientId: '1', address: 'a@b.co' })).toThrow();
    expect(() => signUnsubscribeToken(key, { projectId: '0', recipientId: '1', address: 'a@b.co' })).toThrow();
    expect(() => signUnsubscribeToken(key, { projectId: '1', recipientId: '99999999999999999999', address: 'a@b.co' })).toThrow();
  });
});

describe('unsubscribe message', () => {
  it('is placed at #{UNSUBSCRIBE_MESSAGE} when the body has it', () => {
    const body = '<p>Hi</p>#{UNSUBSCRIBE_MESSAGE}<p>Bye</p>';
    expect(placeUnsubscribeMessage(body)).toBe(body);
  });

  it('goes before </body> when there is one, else at the end', () => {
    expect(placeUnsubscribeMessage('<html><BODY><p>Hi</p></BODY></html>')).toBe('<html><BODY><p>Hi</p>\n<div>#{UNSUBSCRIBE_MESSAGE}</div>\n</BODY></html>');
    expect(placeUnsubscribeMessage('<p>Hi</p>')).toBe('<p>Hi</p>\n<div>#{UNSUBSCRIBE_MESSAGE}</div>\n');
  });

  it('is the basic notice (with the link) unless a custom one is asked for', () => {
    expect(unsubscribeMessageFor({ useBasicUnsubscribeMsg: true, unsubscribeMessage: 'mine' }, 'ko')).toBe(basicUnsubscribeMessage('ko'));
    expect(unsubscribeMessageFor({ useBasicUnsubscribeMsg: false, unsubscribeMessage: 'mine #{UNSUBSCRIBE_URL}' }, 'ko')).toBe('mine #{UNSUBSCRIBE_URL}');
    for (const lang of ['en', 'ko', 'ja'] as const) expect(basicUnsubscribeMessage(lang)).toContain('href="#{UNSUBSCRIBE_URL}"');
    expect(basicUnsubscribeMessage('ko')).toContain('수신거부');
    expect(basicUnsubscribeMessage('ja')).toContain('受信拒否');
  });

  it('keeps the link of <a href="#{UNSUBSCRIBE_URL}"> in the text part (html-to-text drops "#" hrefs)', () => {
    const html = '<p>Stop: <a href="#{UNSUBSCRIBE_URL}">here</a></p>';
    expect(htmlToText(html)).not.toContain('#{UNSUBSCRIBE_URL}');
    expect(templateToText(html)).toBe('Stop: here [#{UNSUBSCRIBE_URL}]');
    expect(templateToText('<p>plain</p>')).toBe('plain');
  });

  it('speaks the language of AD_TITLE_PREFIX', () => {
    expect(langOfAdPrefix('(광고)')).toBe('ko');
    expect(langOfAdPrefix('[広告]')).toBe('ja');
    expect(langOfAdPrefix('(こうこく)')).toBe('ja');
    expect(langOfAdPrefix('[AD]')).toBe('en');
    expect(langOfAdPrefix('')).toBe('en');
  });
});

describe('unsubscribe page', () => {
  it('picks en/ko/ja from Accept-Language by weight', () => {
    expect(langFromAcceptLanguage(undefined)).toBe('en');
    expect(langFromAcceptLanguage('ko-KR,ko;q=0.9,en-US;q=0.8')).toBe('ko');
    expect(langFromAcceptLanguage('fr-FR, ja;q=0.5, en;q=0.4')).toBe('ja');
    expect(langFromAcceptLanguage('en;q=0.2, ko;q=0.8')).toBe('ko');
    expect(langFromAcceptLanguage('de, fr')).toBe('en');
    expect(langFromAcceptLanguage('ko;q=0, ja')).toBe('ja');
  });

  it('masks the address', () => {
    expect(maskAddress('hong@example.com')).toBe('h***g@example.com');
    expect(maskAddress('ab@example.com')).toBe('a***@example.com');
    expect(maskAddress('a@example.com')).toBe('a***@example.com');
  });

  it('escapes everything it shows and has no external resources', () => {
    const html = renderUnsubscribePage({ lang: 'en', address: 'a"><b>@x<script>alert(1)</script>.com', unsubscribed: false, since: null });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;/script');
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).toContain('<form method="post"><input type="hidden" name="action" value="unsubscribe">');
    expect(escapeHtml(`<&>"'`)).toBe('&lt;&amp;&gt;&quot;&#39;');
  });

  it('offers resubscribe once unsubscribed, with the date', () => {
    const html = renderUnsubscribePage({ lang: 'ko', address: 'hong@example.com', unsubscribed: true, since: '2026-11-27 10:00', done: 'unsubscribe' });
    expect(html).toContain('value="resubscribe"');
    expect(html).toContain('2026-11-27 10:00');
    expect(html).toContain('수신거부 처리되었습니다.');
    expect(html).toContain('h***g@example.com');
    expect(renderInvalidLinkPage('ja')).toContain('無効');
  });
});

describe('skipListedRecipients', () => {
  const now = new Date('2026-11-27T00:00:00Z');
  const r = (id: string, address: string, pending = true): MailRecipient => ({
    id,
    address,
    name: null,
    type: 'R',
    parameters: null,
    retryCount: 0,
    status: pending ? 'R' : 'S',
    pending,
  });
  const lists = { unsubscribed: new Set(['u@x.com', 'both@x.com']), blocked: new Set(['b@x.com', 'both@x.com']) };

  it('advertising: unsubscribed → U, blocked → F, both → U; the rest stays pending', () => {
    const { updates, rest } = skipListedRecipients(
      [r('1', 'U@x.com'), r('2', 'b@X.com'), r('3', 'both@x.com'), r('4', 'ok@x.com')],
      lists,
      { advertising: true, cancelled: false },
      now,
    );
    expect(updates).toEqual([
      { id: '1', status: 'U', resultCode: 'UNSUBSCRIBE_ADDRESS', resultMessage: null, retryCount: 0, receivedAt: null, finishedAt: now },
      { id: '2', status: 'F', resultCode: 'SEND_BLOCK_ADDRESS', resultMessage: null, retryCount: 0, receivedAt: null, finishedAt: now },
      { id: '3', status: 'U', resultCode: 'UNSUBSCRIBE_ADDRESS', resultMessage: null, retryCount: 0, receivedAt: null, finishedAt: now },
    ]);
    expect(rest.map((x) => [x.id, x.status, x.pending])).toEqual([
      ['1', 'U', false],
      ['2', 'F', false],
      ['3', 'U', false],
      ['4', 'R', true],
    ]);
  });

  it('other mail ignores the unsubscribe list but not the send-block list; finished recipients are left alone', () => {
    const { updates } = skipListedRecipients(
      [r('1', 'u@x.com'), r('2', 'both@x.com'), r('3', 'b@x.com', false)],
      lists,
      { advertising: false, cancelled: false },
      now,
    );
    expect(updates.map((u) => [u.id, u.status, u.resultCode])).toEqual([['2', 'F', 'SEND_BLOCK_ADDRESS']]);
  });

  it('skips nobody once the request is cancelled: listed recipients are cancelled with the rest', () => {
    const all = [r('1', 'u@x.com'), r('2', 'b@x.com'), r('3', 'ok@x.com')];
    const { updates, rest } = skipListedRecipients(all, lists, { advertising: true, cancelled: true }, now);
    expect(updates).toEqual([]);
    expect(rest).toEqual(all);
  });
});
