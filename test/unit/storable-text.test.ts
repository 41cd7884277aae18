import { describe, expect, it } from '@jest/globals';
import { findUnstorableText, mayHoldUnstorableText } from '../../src/http/storable-text.ts';

describe('findUnstorableText', () => {
  it('names the field as clients know it', () => {
    expect(findUnstorableText({ title: 'ok', recipients: [{ parameters: { A: 'x' } }, { parameters: { B: 'a\u0000' } }] })).toBe(
      'recipients[1].parameters.B: must not contain the character U+0000 (NUL)',
    );
    expect(findUnstorableText({ parameters: { A: 'x\ud800' } })).toMatch(/^parameters\.A: must not contain a lone surrogate/);
    expect(findUnstorableText({ parameters: { 'k\u0000': 'v' } })).toMatch(/^parameters\.k\\u0000: the name must not contain/);
    expect(findUnstorableText('\udfff')).toMatch(/^body: /);
    expect(findUnstorableText({ emailAddress: '\u0000' })).toMatch(/^emailAddress: /);
  });

  it('accepts what PostgreSQL stores: pairs, other controls, anything not a string', () => {
    expect(findUnstorableText({ a: '😀 \ud83d\ude00 \u0001 \ufffd', b: [1, true, null, { c: '한글' }] })).toBeUndefined();
  });

  it('walks a deeply nested value without recursion', () => {
    let deep: unknown = 'a\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableText(deep)).toMatch(/^(\[0\]){60,}…: must not contain/);
  });
});

describe('mayHoldUnstorableText', () => {
  it('spots the escapes that parse to NUL or a surrogate, in any case', () => {
    expect(mayHoldUnstorableText(Buffer.from('{"a":"\\u0000"}'))).toBe(true);
    expect(mayHoldUnstorableText(Buffer.from('{"a":"\\uD800"}'))).toBe(true);
    expect(mayHoldUnstorableText(Buffer.from('{"a":"\\udfff"}'))).toBe(true);
    expect(mayHoldUnstorableText(Buffer.from('{"a":"\\u00e9 \\ud55c 한글"}'))).toBe(false);
    expect(mayHoldUnstorableText(Buffer.from('{"a":"plain"}'))).toBe(false);
  });

  it('finds an escape that straddles the slices it searches', () => {
    const pad = 'x'.repeat(1024 * 1024 - 9);
    for (let shift = 0; shift < 8; shift++) {
      expect(mayHoldUnstorableText(Buffer.from(`{"a":"${pad}${'y'.repeat(shift)}\\u0000"}`))).toBe(true);
    }
  });
});
