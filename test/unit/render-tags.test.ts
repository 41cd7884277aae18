import { describe, it, expect } from '@jest/globals';
import { compileTemplate, renderTemplate, renderLeniently, META_TAGS } from '../../src/shared/render-tags.ts';
import type { RenderValues } from '../../src/shared/render-tags.ts';

/** Joins a compiled template back together: every part must keep its source text. */
const rejoin = (text: string) =>
  compileTemplate(text)
    .parts.map((p) => (p.kind === 'text' ? p.text : p.raw))
    .join('');

describe('compileTemplate', () => {
  type Row = [name: string, text: string, userTags: string[], metaTags: string[]];
  const rows: Row[] = [
    ['plain text', 'Hello world', [], []],
    ['empty string', '', [], []],
    ['one user tag', 'Hello ${NAME}!', ['NAME'], []],
    ['user tag at start', '${A} rest', ['A'], []],
    ['user tag at end', 'rest ${A}', ['A'], []],
    ['only a user tag', '${A}', ['A'], []],
    ['adjacent user tags', '${A}${B}', ['A', 'B'], []],
    ['repeated user tag listed once', '${A} and ${A}', ['A'], []],
    ['lower-case and digits in user tags', '${name_1} ${x.y}', ['name_1', 'x.y'], []],
    ['non-ASCII user tag', '${이름}', ['이름'], []],
    ['meta tag', 'Dear #{RECIPIENT_NAME}', [], ['RECIPIENT_NAME']],
    ['all meta tags', META_TAGS.map((t) => `#{${t}}`).join(' '), [], [...META_TAGS]],
    ['adjacent meta and user tags', '#{SENDER_NAME}${A}#{SENDER_ADDRESS}', ['A'], ['SENDER_NAME', 'SENDER_ADDRESS']],
    ['unknown meta-looking tag is text', 'x #{FOO} y', [], []],
    ['lower-case meta-looking tag is text', '#{recipient_name}', [], []],
    ['lone $', 'costs $5', [], []],
    ['lone #', 'item #3', [], []],
    ['$ and # without braces', '$RECIPIENT_NAME #RECIPIENT_NAME', [], []],
    ['empty ${}', 'a ${} b', [], []],
    ['empty #{}', 'a #{} b', [], []],
    ['spaces are part of a user tag name', '${A B} ${ A}', ['A B', ' A'], []],
    ['unclosed ${', 'a ${A b', [], []],
    ['a name holds anything but "}": ${a{b}}', '${a{b}}', ['a{b'], []],
    ['a name holds anything but "}": ${${X}}', '${${X}}', ['${X'], []],
    ['double $ before tag', '$${X}', ['X'], []],
    ['tag at 100 chars is a tag', '${' + 'a'.repeat(100) + '}', ['a'.repeat(100)], []],
    ['tag at 101 chars is text', '${' + 'a'.repeat(101) + '}', [], []],
  ];

  it.each(rows)('%s', (_name, text, userTags, metaTags) => {
    const tpl = compileTemplate(text);
    expect(tpl.userTags).toEqual(userTags);
    expect(tpl.metaTags).toEqual(metaTags);
    // compiling never loses text
    expect(rejoin(text)).toBe(text);
  });

  it.each([
    ['x #{FOO} y', ['FOO']],
    ['#{recipient_name} #{Recipient_Name}', ['recipient_name', 'Recipient_Name']],
    ['#{RECIPIENT_NAME} #{SENDER_NAME}', []],
    ['#{} #{A B}', []],
  ])('lists #{...} names that are not meta tags: %s', (text, unknown) => {
    expect(compileTemplate(text).unknownMetaTags).toEqual(unknown);
  });

  it('splits text, user and meta parts in order', () => {
    expect(compileTemplate('Hi ${NAME}, from #{SENDER_NAME}.').parts).toEqual([
      { kind: 'text', text: 'Hi ' },
      { kind: 'user', name: 'NAME', raw: '${NAME}' },
      { kind: 'text', text: ', from ' },
      { kind: 'meta', name: 'SENDER_NAME', raw: '#{SENDER_NAME}' },
      { kind: 'text', text: '.' },
    ]);
  });

  it('produces no empty text parts around tags at the start and end', () => {
    const parts = compileTemplate('${A}${B}').parts;
    expect(parts).toEqual([
      { kind: 'user', name: 'A', raw: '${A}' },
      { kind: 'user', name: 'B', raw: '${B}' },
    ]);
  });

  it('gives no parts for an empty template', () => {
    expect(compileTemplate('').parts).toEqual([]);
  });

  it('is stable when compiled twice (regex lastIndex not shared)', () => {
    const a = compileTemplate('${A} ${B}');
    const b = compileTemplate('${A} ${B}');
    expect(b).toEqual(a);
  });
});

describe('renderTemplate', () => {
  const meta: RenderValues['meta'] = {
    RECIPIENT_NAME: '홍길동',
    RECIPIENT_ADDRESS: 'hong@example.com',
    SENDER_NAME: 'Shop',
    SENDER_ADDRESS: 'shop@example.com',
  };

  type Row = [name: string, text: string, values: RenderValues, expected: ReturnType<typeof renderTemplate>];
  const rows: Row[] = [
    ['plain text', 'Hello', { meta: {} }, { ok: true, text: 'Hello' }],
    ['empty template', '', { meta: {} }, { ok: true, text: '' }],
    ['request param', 'Hi ${N}', { requestParams: { N: 'Kim' }, meta: {} }, { ok: true, text: 'Hi Kim' }],
    ['recipient param', 'Hi ${N}', { recipientParams: { N: 'Lee' }, meta: {} }, { ok: true, text: 'Hi Lee' }],
    [
      'recipient param overrides request param',
      'Hi ${N}',
      { recipientParams: { N: 'Lee' }, requestParams: { N: 'Kim' }, meta: {} },
      { ok: true, text: 'Hi Lee' },
    ],
    [
      'falls back to request param per tag',
      '${A}/${B}',
      { recipientParams: { A: 'r' }, requestParams: { A: 'q', B: 'q' }, meta: {} },
      { ok: true, text: 'r/q' },
    ],
    ['null recipient value falls back to request', '${A}', { recipientParams: { A: null }, requestParams: { A: 'q' }, meta: {} }, { ok: true, text: 'q' }],
    ['empty string recipient value is a value', '[${A}]', { recipientParams: { A: '' }, requestParams: { A: 'q' }, meta: {} }, { ok: true, text: '[]' }],
    ['number value', 'n=${N}', { requestParams: { N: 42 }, meta: {} }, { ok: true, text: 'n=42' }],
    ['zero value', 'n=${N}', { requestParams: { N: 0 }, meta: {} }, { ok: true, text: 'n=0' }],
    ['boolean value', '${B}', { requestParams: { B: false }, meta: {} }, { ok: true, text: 'false' }],
    ['missing user tag', 'Hi ${N}', { meta: {} }, { ok: false, missingTag: 'N' }],
    ['missing user tag with null params', 'Hi ${N}', { recipientParams: null, requestParams: null, meta: {} }, { ok: false, missingTag: 'N' }],
    ['first missing tag is reported', '${A} ${B} ${C}', { requestParams: { A: 'a' }, meta: {} }, { ok: false, missingTag: 'B' }],
    ['null value is missing', '${A}', { requestParams: { A: null }, meta: {} }, { ok: false, missingTag: 'A' }],
    [
      'meta tags',
      '#{RECIPIENT_NAME} <#{RECIPIENT_ADDRESS}> from #{SENDER_NAME} <#{SENDER_ADDRESS}>',
      { meta },
      { ok: true, text: '홍길동 <hong@example.com> from Shop <shop@example.com>' },
    ],
    ['meta with missing name renders empty', 'Dear #{RECIPIENT_NAME}.', { meta: {} }, { ok: true, text: 'Dear .' }],
    ['meta with null name renders empty', 'Dear #{RECIPIENT_NAME}.', { meta: { RECIPIENT_NAME: null } }, { ok: true, text: 'Dear .' }],
    ['unknown #{FOO} kept as text', 'a #{FOO} b', { meta: {} }, { ok: true, text: 'a #{FOO} b' }],
    ['unknown #{FOO} kept as text next to a tag', '#{FOO}${A}', { requestParams: { A: 'x' }, meta: {} }, { ok: true, text: '#{FOO}x' }],
    ['adjacent tags', '${A}${B}#{SENDER_NAME}', { requestParams: { A: '1', B: '2' }, meta }, { ok: true, text: '12Shop' }],
    ['values are not re-scanned for tags', '${A}', { requestParams: { A: '${B}' }, meta: {} }, { ok: true, text: '${B}' }],
    ['$ in replacement value is literal', '${A}', { requestParams: { A: "$& $1 $'" }, meta: {} }, { ok: true, text: "$& $1 $'" }],
  ];

  it.each(rows)('%s', (_name, text, values, expected) => {
    expect(renderTemplate(compileTemplate(text), values)).toEqual(expected);
  });

  // Parameters arrive as plain objects (JSON.parse / normaliseParams): names inherited from
  // Object.prototype are not values the caller gave.
  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'])(
    'a tag named %s with no such parameter is missing, not an inherited property',
    (name) => {
      const tpl = compileTemplate(`Hi \${${name}}`);
      expect(renderTemplate(tpl, { requestParams: {}, recipientParams: {}, meta: {} })).toEqual({ ok: false, missingTag: name });
    },
  );
});

describe('renderLeniently', () => {
  type Row = [name: string, text: string, values: RenderValues, expected: string];
  const rows: Row[] = [
    ['plain', 'Hello', { meta: {} }, 'Hello'],
    ['filled tags', '${A} #{RECIPIENT_NAME}', { requestParams: { A: 'x' }, meta: { RECIPIENT_NAME: 'Kim' } }, 'x Kim'],
    ['missing user tag kept as written', 'Hi ${NAME}!', { meta: {} }, 'Hi ${NAME}!'],
    ['some filled, some kept', '${A}-${B}', { recipientParams: { A: 1 }, meta: {} }, '1-${B}'],
    ['recipient overrides request', '${A}', { recipientParams: { A: 'r' }, requestParams: { A: 'q' }, meta: {} }, 'r'],
    ['meta missing renders empty', '[#{SENDER_NAME}]', { meta: {} }, '[]'],
    ['unknown meta kept', '#{FOO}', { meta: {} }, '#{FOO}'],
  ];

  it.each(rows)('%s', (_name, text, values, expected) => {
    expect(renderLeniently(compileTemplate(text), values)).toBe(expected);
  });

  it('keeps a tag named like an Object.prototype member as written when not given', () => {
    expect(renderLeniently(compileTemplate('${constructor}'), { requestParams: {}, meta: {} })).toBe('${constructor}');
  });
});
