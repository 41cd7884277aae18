import { describe, expect, it } from '@jest/globals';
import { parseLargeJson } from '../../src/http/large-json.ts';

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
