import { describe, expect, it } from '@jest/globals';
import { parseLargeJson, parseLargeJsonDeferring } from '../../src/http/large-json.ts';

/** parseLargeJson must answer exactly what JSON.parse does: the same value, or a throw. */
function same(text: string) {
  let expected: unknown;
  let threw = false;
  try {
    expected = JSON.parse(text);
  } catch {
    threw = true;
  }
  if (threw) expect(() => parseLargeJson(Buffer.from(text))).toThrow(SyntaxError);
  else expect(parseLargeJson(Buffer.from(text))).toEqual(expected);
}

describe('parseLargeJson', () => {
  it.each([
    '{"senderAddress":"a@b.c","recipients":[{"address":"x@y.z","parameters":{"A":"1"}},{"address":"q@y.z","name":null,"type":"R"}],"title":"t"}',
    ' \n{ "recipients" : [ ] , "x" : [1, {"y": "]}\\"["}] }\n ',
    '{"recipients":[1,"two",true,null,{"a":[[]]},[3]]}',
    '{"title":"\\"recipients\\":[","recipients":[{"name":"[{\\\\"}"}],"body":"}"}',
    '{"recipi\\u0065nts":[{"a":1}],"b":2}',
    '{"a":{"recipients":[1,2]},"recipients":[3]}',
    '{"recipients":[{"a":"한국어 日本語 😀"}]}',
    '{"x":1}',
    '[1,2]',
    '{}',
    // duplicate key: the last wins, as in JSON.parse
    '{"recipients":[1],"recipients":[2]}',
    '{"recipients":"not an array"}',
    // malformed: each must throw like JSON.parse
    '{"recipients":[1,,2]}',
    '{"recipients":[1,2,]}',
    '{"recipients":[{"a":1} x]}',
    '{"recipients":[{"a":tru}]}',
    '{"recipients":[1,2]',
    '{"recipients":[1,2]}}',
    '{"recipients":[1,2],}',
    '{"recipients":[{"a":"unterminated}]}',
    '{"recipients" [1]}',
    '{recipients:[1]}',
    '{"recipients":[1]} trailing',
    '',
  ])('%s', same);

  it('a large createMailRequest body', () => {
    const recipients = Array.from({ length: 2000 }, (_, i) => ({
      address: `u${i}@example.com`,
      name: `N ${i}`,
      type: 'R',
      parameters: { A: `v${i}`, B: '"]}' },
    }));
    same(JSON.stringify({ senderAddress: 's@example.com', title: 'T', body: 'B', recipients, individual: true }));
  });
});

describe('parseLargeJsonDeferring', () => {
  const text = '{"title":"t","recipients":[{"address":"a@x.y"}, {"address":"b@x.y","parameters":{"K":"v"}} ,"c",{"address":tru}],"z":[1]}';
  it('leaves an array of at least minElements as bytes, parsed one element at a time', () => {
    const { body, deferred } = parseLargeJsonDeferring(Buffer.from(text), 'recipients', 4);
    expect(body).toEqual({ title: 't', recipients: [], z: [1] });
    expect(deferred!.length).toBe(4);
    expect(deferred!.bytes).toBe(19 + 42 + 3 + 15);
    expect(deferred!.at(1)).toEqual({ address: 'b@x.y', parameters: { K: 'v' } });
    // a fresh value every time: nothing keeps the parsed elements
    expect(deferred!.at(1)).not.toBe(deferred!.at(1));
    expect(deferred!.at(2)).toBe('c');
    expect(() => deferred!.at(3)).toThrow(SyntaxError);
    expect([deferred!.at(4), deferred!.at(-1), deferred!.at(1.5)]).toEqual([undefined, undefined, undefined]);
  });

  it('parses a shorter array with the body, as parseLargeJson does', () => {
    const ok = '{"recipients":[{"a":1},{"b":2}],"x":1}';
    expect(parseLargeJsonDeferring(Buffer.from(ok), 'recipients', 3)).toEqual({ body: JSON.parse(ok) });
    expect(() => parseLargeJsonDeferring(Buffer.from(text), 'recipients', 5)).toThrow(SyntaxError);
  });

  it('refuses a body whose structure is broken outside the elements', () => {
    expect(() => parseLargeJsonDeferring(Buffer.from('{"recipients":[{"a":1}],"x":}'), 'recipients', 1)).toThrow(SyntaxError);
  });
});
