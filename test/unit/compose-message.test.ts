import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import type { SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { composeNow, plainTree, sourceNow, sourceOf } from '../../src/modules/delivery/compose-message.ts';

// composeNow writes the MIME tree nodemailer's composer builds without its streams: for every
// message whose parts are in memory, the bytes must be the ones nodemailer streams.

const fixed = { date: new Date('2026-12-06T10:00:00Z'), messageId: '<fixed@example.com>', baseBoundary: 'b0b0b0b0b0b0b0b0' };

const korean = '안녕하세요 고객님, 주문하신 상품이 발송되었습니다. ';
const cases: [string, SendMailOptions][] = [
  [
    'ASCII HTML and text',
    { from: 'Shop <shop@example.com>', to: 'kim@example.org', subject: 'Your order', html: '<p>Hello Kim,</p>\n'.repeat(40), text: 'Hello Kim,\n'.repeat(40) },
  ],
  [
    'names and a subject in Korean, body mostly Korean (base64)',
    {
      from: { name: '벤치 상점', address: 'shop@example.com' },
      to: [{ name: '김민수', address: 'kim@example.org' }],
      subject: `${korean}주문 ORD-0000001`,
      html: `<p>${korean.repeat(20)}</p>`,
      text: korean.repeat(20),
    },
  ],
  [
    'a little non-ASCII (quoted-printable), long lines',
    { from: 'shop@example.com', to: 'a@example.org', subject: 'Café', html: `<p>${'déjà vu '.repeat(60)}</p>`, text: `${'x'.repeat(300)} é` },
  ],
  [
    'ASCII with lines over 76 characters (quoted-printable)',
    { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: `<p>${'word '.repeat(100)}</p>`, text: 'short' },
  ],
  ['trailing spaces and tabs before line ends', { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: 'a  \nb\t\nc \r\nend  ', text: 'x \n' }],
  ['= and dots at line starts', { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: `.\n..\n=3D ${'é'.repeat(80)}=\n`, text: '.\r\n.\r\n' }],
  ['bare CR and LF, control characters', { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: 'a\rb\nc\r\nd\u0001e', text: 'x\ry' }],
  ['HTML only', { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: '<p>only html</p>' }],
  ['text only, no final line break', { from: 'shop@example.com', to: 'a@example.org', subject: 's', text: 'no newline at the end' }],
  ['an empty text part', { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: '<p>x</p>', text: '' }],
  [
    'To and Cc lists, quoted names, references, list headers',
    {
      from: { name: 'Shop, Inc. "Best"', address: 'shop@example.com' },
      to: [{ name: 'Kim, Minsu', address: 'kim@example.org' }, 'lee@example.org', { name: 'Ünal', address: 'u@example.org' }],
      cc: [{ name: 'Park', address: 'park@example.org' }],
      subject: `${'a long subject '.repeat(12)}ü`,
      html: '<p>x</p>',
      text: 'x',
      references: '<a@example.com> <b@example.com>',
      headers: { 'List-Unsubscribe': '<https://example.com/u/abc>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    },
  ],
  ['a 200 KB base64 body', { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: `<p>${'가나다라마바사 '.repeat(10_000)}</p>` }],
  [
    'a quoted-printable part of 64 KiB, the most composed at once',
    {
      from: 'shop@example.com',
      to: 'a@example.org',
      subject: 's',
      html: `${'<tr><td style="padding:4px">cell</td></tr> é\n'.repeat(1_365)}${'x'.repeat(65_536 - 1_365 * 46)}`,
    },
  ],
  [
    'an attachment given as a string',
    { from: 'shop@example.com', to: 'a@example.org', subject: 's', text: 'see attached', attachments: [{ filename: 'a.csv', content: 'a,b\n1,2\n' }] },
  ],
  [
    'an attachment given as a Buffer',
    {
      from: 'shop@example.com',
      to: 'a@example.org',
      subject: 's',
      html: '<b>x</b>',
      attachments: [{ filename: 'a.bin', content: Buffer.from([0, 1, 2, 255, 254, 13, 10]) }],
    },
  ],
];

describe('composeNow', () => {
  it.each(cases)('writes what nodemailer streams: %s', async (_name, message) => {
    const streamed = await new MailComposer({ ...message, ...fixed }).compile().build();
    const now = composeNow({ ...message, ...fixed });
    expect(now).toBeDefined();
    expect(now!.raw.toString('latin1')).toBe(streamed.toString('latin1'));
  });

  it('writes what nodemailer streams for 300 random mails (names, Cc lists, list headers; whitespace, line breaks, non-ASCII, long lines)', async () => {
    // a small deterministic generator: the same mails on every run
    let seed = 17;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    const atoms = ['a', 'word ', ' ', '\t', '\n', '\r\n', '\r', '=', '.', 'é', '가', '😀', '<p>', '\u0000', '-', '--', '?=', '=?', 'x'.repeat(90)];
    const text = (max: number) => Array.from({ length: next(max) }, () => atoms[next(atoms.length)]).join('');
    for (let i = 0; i < 300; i++) {
      const message: SendMailOptions = {
        ...fixed,
        from: next(2) ? { name: text(6), address: 'shop@example.com' } : 'shop@example.com',
        to: [{ name: text(6), address: `r${i}@example.org` }],
        cc: next(3) ? [] : Array.from({ length: next(3) + 1 }, (_, j) => ({ name: text(4), address: `c${j}@example.org` })),
        subject: text(20),
        html: next(5) ? text(400) : undefined,
        text: next(5) ? text(400) : undefined,
        envelope: { from: next(2) ? 'b+x@bounce.example.net' : 'shop@example.com', to: [`r${i}@example.org`] },
      };
      if (next(3) === 0) message.references = '<a@example.com> <b@example.com>';
      if (next(3) === 0) message.headers = { 'List-Unsubscribe': `<https://example.com/u/${text(5)}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
      // buildMessage's mails take the direct way (plainTree), not MailComposer's
      expect(plainTree(message, 'b')).toBeDefined();
      const streamed = await new MailComposer(message).compile().build();
      expect(composeNow(message)?.raw.toString('latin1')).toBe(streamed.toString('latin1'));
    }
  });

  it('declines a message with a part it would have to read from a stream, and sourceOf then streams it', async () => {
    const message: SendMailOptions = {
      ...fixed,
      from: 'shop@example.com',
      to: 'a@example.org',
      subject: 's',
      text: 'x',
      attachments: [{ filename: 'a.txt', content: Readable.from([Buffer.from('streamed')]) }],
    };
    expect(composeNow(message)).toBeUndefined();
    const source = String((await sourceOf({ ...message, attachments: [{ filename: 'a.txt', content: Readable.from([Buffer.from('streamed')]) }] })).raw);
    expect(source).toContain(Buffer.from('streamed').toString('base64'));
  });

  it('declines a quoted-printable part over 64 KiB, whose soft line breaks nodemailer places slice by slice', async () => {
    // plain ASCII table rows with long lines: nodemailer's encoder breaks a line near the slice's
    // end elsewhere than one wrap of the whole part would
    const message: SendMailOptions = {
      ...fixed,
      from: 'shop@example.com',
      to: 'a@example.org',
      subject: 's',
      html: '<tr><td style="padding:4px 8px;border:1px solid #ddd">cell</td></tr>'.repeat(1_500),
    };
    expect(Buffer.byteLength(message.html as string)).toBeGreaterThan(65_536);
    expect(composeNow(message)).toBeUndefined();
    const streamed = await new MailComposer(message).compile().build();
    expect(((await sourceOf(message)).raw as Buffer).toString('latin1')).toBe(streamed.toString('latin1'));
    // one byte over the slice is enough
    const justOver: SendMailOptions = { ...message, html: `${'word '.repeat(13_107)}é` };
    expect(Buffer.byteLength(justOver.html as string)).toBe(65_537);
    expect(composeNow(justOver)).toBeUndefined();
  });

  it('declines a ready-made raw part (a stored attachment)', () => {
    expect(
      composeNow({
        ...fixed,
        from: 'shop@example.com',
        to: 'a@example.org',
        subject: 's',
        text: 'x',
        attachments: [{ raw: 'Content-Type: text/plain\r\n\r\nx' }],
      }),
    ).toBeUndefined();
  });

  it('draws a new boundary and Message-ID for every message, as nodemailer does', () => {
    const message: SendMailOptions = { from: 'shop@example.com', to: 'a@example.org', subject: 's', html: '<p>x</p>', text: 'x' };
    const a = composeNow(message)!.raw.toString();
    const b = composeNow(message)!.raw.toString();
    const boundary = (s: string) => /boundary="([^"]+)"/.exec(s)?.[1];
    const id = (s: string) => /^Message-ID: (.+)$/m.exec(s)?.[1];
    expect(boundary(a)).toBeDefined();
    expect(boundary(a)).not.toBe(boundary(b));
    expect(id(a)).not.toBe(id(b));
  });

  it.each([
    ['the From address', undefined, 'shop.example.com'],
    ['the envelope sender (a VERP return path)', { from: 'b+x1@bounce.example.net', to: ['a@example.org'] }, 'bounce.example.net'],
    ['the envelope sender, its domain in capitals', { from: 'b@Bounce.Example.NET', to: ['a@example.org'] }, 'bounce.example.net'],
    ['the envelope sender, an internationalised domain', { from: 'b@bücher.example', to: ['a@example.org'] }, 'xn--bcher-kva.example'],
    ['the envelope sender with a name', { from: 'Bounces <b@bounce.example.net>', to: ['a@example.org'] }, 'bounce.example.net'],
    ['the envelope sender, a non-ASCII local part', { from: 'rené@xn--bcher-kva.example', to: ['a@example.org'] }, 'bücher.example'],
  ])('makes the Message-ID at the domain nodemailer takes: %s', async (_name, envelope, domain) => {
    const message: SendMailOptions = { from: 'Shop <shop@shop.example.com>', to: 'a@example.org', subject: 's', text: 'x', envelope };
    const id = (s: string) => /^Message-ID: <([^>]+)>$/m.exec(s)?.[1];
    const streamed = id((await new MailComposer(message).compile().build()).toString())!;
    const composed = composeNow(message)!;
    const now = id(composed.raw.toString())!;
    expect(composed.messageId).toBe(`<${now}>`);
    expect(streamed.split('@')[1]).toBe(domain);
    expect(now.split('@')[1]).toBe(domain);
    expect(now).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@/);
  });
});

describe('sourceNow and sourceOf', () => {
  it.each([
    ['sourceNow', sourceNow],
    ['sourceOf', sourceOf],
  ])('%s puts the Message-ID at the From address domain, not at a VERP return path, and keeps the envelope', async (_name, source) => {
    const envelope = { from: 'b+x1@bounce.example.net', to: ['a@example.org'] };
    const message: SendMailOptions = {
      from: { name: 'Shop', address: 'news@shop.example.com' },
      to: 'a@example.org',
      subject: 's',
      html: '<p>x</p>',
      envelope,
    };
    const composed = (await source(message))!;
    expect(composed.envelope).toEqual(envelope);
    expect(String(composed.raw)).toMatch(/^Message-ID: <[0-9a-f-]+@shop\.example\.com>$/m);
  });
});
