import { describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dkimSignature, relaxedBody, relaxedBodyHash } from '../../src/modules/delivery/dkim-signature.ts';
import nodemailer from 'nodemailer';
import { crlf } from '../../src/modules/delivery/dkim-sign-message.ts';
import { sourceNow, sourceOf } from '../../src/modules/delivery/compose-message.ts';
import { composedStreamPlugin } from '../../src/modules/delivery/compose-stream.ts';
import { DKIM_SIGNED_HEADERS } from '../../src/modules/delivery/build-message.ts';
import { dkimRecordValue, generateDkimKey, nextSelector, recordPublishes } from '../../src/modules/sender-domains/dkim-key.ts';

// The pure parts of sender domains: records, selectors, and the DKIM signer (RSA and Ed25519) checked by an
// independent verifier (mailauth) against hand-made messages with awkward whitespace.

describe('DKIM records', () => {
  it('an RSA record publishes the SubjectPublicKeyInfo; an Ed25519 record the raw key', async () => {
    const rsa = await generateDkimKey('rsa-sha256');
    expect(dkimRecordValue('rsa-sha256', rsa.publicKey)).toBe(`v=DKIM1; k=rsa; p=${rsa.publicKey}`);
    expect(crypto.createPublicKey(rsa.privateKeyPem).export({ format: 'der', type: 'spki' }).toString('base64')).toBe(rsa.publicKey);
    const ed = await generateDkimKey('ed25519-sha256');
    expect(Buffer.from(ed.publicKey, 'base64')).toHaveLength(32);
    expect(dkimRecordValue('ed25519-sha256', ed.publicKey)).toBe(`v=DKIM1; k=ed25519; p=${ed.publicKey}`);
  });

  it('recordPublishes: the p= tag must match, whitespace in it ignored; another version or key does not count', () => {
    expect(recordPublishes(['v=DKIM1; k=rsa; p=ABC DEF'], 'ABCDEF')).toBe(true);
    expect(recordPublishes(['k=rsa;p=ABCDEF'], 'ABCDEF')).toBe(true);
    expect(recordPublishes(['v=spf1 mx ~all', 'v=DKIM1; p=XYZ'], 'ABCDEF')).toBe(false);
    expect(recordPublishes(['v=DKIM2; p=ABCDEF'], 'ABCDEF')).toBe(false);
    expect(recordPublishes([], 'ABCDEF')).toBe(false);
  });

  it('nextSelector: a new name each time, never one the domain has', () => {
    const now = new Date('2026-12-04T08:00:00Z');
    const first = nextSelector([], now);
    expect(first).toMatch(/^om[0-9a-z]+$/);
    expect(nextSelector([first], now)).toBe(`${first}2`);
    expect(nextSelector([first, `${first}2`], now)).toBe(`${first}3`);
    expect(nextSelector([first], new Date(now.getTime() + 1000))).not.toBe(first);
  });
});

describe('dkimSignature', () => {
  const ed = crypto.generateKeyPairSync('ed25519');
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  // the records as the DNS publishes them (Ed25519: the raw key; RSA: the SubjectPublicKeyInfo)
  const records: Record<string, string> = {
    'ed.example.com': `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64')}`,
    'rsa.example.com': `v=DKIM1; k=rsa; p=${rsa.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')}`,
  };
  const resolver = async (name: string) => [[records[name.replace(/^s1\._domainkey\./, '')] ?? '']];
  const message = [
    'From: "Shop"  <news@ed.example.com>',
    'To: kim@example.org,',
    '\tlee@example.org',
    'Subject: an earlier instance, not signed',
    'Subject:   Hello    there  ',
    'Date: Fri, 04 Dec 2026 08:00:00 +0000',
    'Message-ID: <1@ed.example.com>',
    'X-Other: not signed',
    '',
    'Line with  double  spaces \t ',
    '',
    'Last line',
    '',
    '',
    '',
  ].join('\r\n');

  async function verify(raw: string) {
    return (await dkimVerify(Buffer.from(raw, 'latin1'), { resolver } as never)).results[0]!;
  }

  for (const [algorithm, domainName, privateKey] of [
    ['ed25519-sha256', 'ed.example.com', ed.privateKey],
    ['rsa-sha256', 'rsa.example.com', rsa.privateKey],
    // a PEM works too (delivery passes the KeyObject it parsed once per key)
    ['rsa-sha256', 'rsa.example.com', rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string],
  ] as const) {
    it(`${algorithm}${typeof privateKey === 'string' ? ' (PEM key)' : ''}: relaxed/relaxed, verified by mailauth: folded headers, runs of spaces, trailing blank lines`, async () => {
      const header = await dkimSignature(Buffer.from(message, 'latin1'), {
        algorithm,
        domainName,
        keySelector: 's1',
        privateKey,
        headerFieldNames: 'From:To:Cc:Subject:Date:Message-ID',
      });
      expect(header).toMatch(new RegExp(`^DKIM-Signature: v=1; a=${algorithm}; c=relaxed/relaxed; d=${domainName.replace(/\./g, '\\.')}; s=s1; `));
      // only the fields present are listed; an RSA 2048 signature is folded into lines of at most 77 characters
      expect(header).toContain('h=from:to:subject:date:message-id;');
      expect(header.endsWith('\r\n')).toBe(true);
      for (const line of header.split('\r\n').slice(1)) expect(line.length).toBeLessThanOrEqual(77);
      const result = await verify(header + message);
      expect(result.status.result).toBe('pass');
      expect(result).toMatchObject({ signingDomain: domainName, algo: algorithm });
      // what the signature covers can't change; what it doesn't, can
      expect((await verify(header + message.replace('Last line', 'Last  line'))).status.result).toBe('pass');
      expect((await verify(header + message.replace('Last line', 'Lost line'))).status.result).not.toBe('pass');
      expect((await verify(header + message.replace('X-Other: not signed', 'X-Other: changed'))).status.result).toBe('pass');
      expect((await verify(header + message.replace('an earlier instance', 'changed'))).status.result).toBe('pass');
      expect((await verify(header + message.replace('Hello    there', 'Hello there!'))).status.result).toBe('fail');
    });
  }

  it('refuses an algorithm it does not know instead of signing with the wrong one', async () => {
    await expect(
      dkimSignature(Buffer.from(message, 'latin1'), {
        algorithm: 'rsa-sha1',
        domainName: 'rsa.example.com',
        keySelector: 's1',
        privateKey: rsa.privateKey,
        headerFieldNames: 'From',
      }),
    ).rejects.toThrow(/unknown DKIM algorithm/);
  });
});

describe('signing a message on its way to the transport', () => {
  // nodemailer's own stream transport (a real composer and pipeline; it writes the message to a buffer instead of a socket)
  const ed = crypto.generateKeyPairSync('ed25519');
  const records: Record<string, string> = {
    'ed.example.com': `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64')}`,
  };
  const resolver = async (name: string) => [[records[name.replace(/^s1\._domainkey\./, '')] ?? '']];
  const dkim = { algorithm: 'ed25519-sha256', domainName: 'ed.example.com', keySelector: 's1', privateKey: ed.privateKey };
  const message = {
    from: '"Shop" <news@ed.example.com>',
    to: 'kim@example.org',
    subject: 'Hello 안녕',
    html: `<p>${'Body  with spaces\t and a long line. '.repeat(40)}</p>`,
    headers: { 'List-Unsubscribe': '<https://mail.example.net/u/x>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    attachments: [{ filename: 'a.txt', content: 'attached\n' }],
  };
  const verify = async (raw: Buffer) => (await dkimVerify(raw, { resolver } as never)).results;

  it('composedStreamPlugin signs what nodemailer composes (the relay path), once, over the headers that matter', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
    transport.use('stream', composedStreamPlugin);
    const raw = (await transport.sendMail({ ...message, dkimSigning: dkim } as never)).message as Buffer;
    const results = await verify(raw);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ signingDomain: 'ed.example.com', status: { result: 'pass' } });
    const h = /; h=([^;]+);/.exec(raw.toString('latin1'))![1]!.split(':');
    expect(h).toEqual(expect.arrayContaining(['from', 'to', 'subject', 'date', 'message-id', 'list-unsubscribe', 'list-unsubscribe-post']));
    // a message without dkimSigning goes out as it was
    const plain = (await transport.sendMail(message)).message as Buffer;
    expect(plain.toString('latin1')).not.toMatch(/^DKIM-Signature/m);
  });

  it.each([
    ['sourceNow', sourceNow],
    ['sourceOf', sourceOf],
  ])('%s signs the composed message as raw source (what the attempt hands the transport)', async (_name, source) => {
    const signed = (await source({ ...message, dkimSigning: dkim }))!;
    expect(signed.raw).toBeInstanceOf(Buffer);
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
    const raw = (await transport.sendMail({ ...signed, envelope: { from: 'b@bounce.example', to: ['kim@example.org'] } })).message as Buffer;
    expect((await verify(raw))[0]).toMatchObject({ signingDomain: 'ed.example.com', status: { result: 'pass' } });
    expect(DKIM_SIGNED_HEADERS.toLowerCase().split(':')).toEqual(expect.arrayContaining(/; h=([^;]+);/.exec(raw.toString('latin1'))![1]!.split(':')));
  });

  it('an error of the composed stream reaches the send, not an unsigned message', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
    transport.use('stream', composedStreamPlugin);
    await expect(transport.sendMail({ ...message, dkimSigning: { ...dkim, algorithm: 'rsa-sha1' } } as never)).rejects.toThrow(/unknown DKIM algorithm/);
  });
});

describe('relaxedBodyHash', () => {
  const slow = (body: string) => crypto.createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');

  it('hashes what relaxedBody gives, through its shortcut or not, for edge cases and 20,000 random bodies', () => {
    const cases = [
      '',
      '\r\n',
      '\r\n\r\n\r\n',
      'a',
      'a\r\n',
      'a\r\n\r\n',
      'a ',
      'a\t',
      ' \r\n',
      'a\r',
      'a\r\r\n',
      'a\n',
      'a \r\nb',
      'a  b\r\n',
      '\r\na\r\n\r\n',
    ];
    const alphabet = ['a', 'b', ' ', '  ', '\t', '\r\n', '\r\n', '\r', '\n', '=', '\u00e9'];
    for (let i = 0; i < 20_000; i++) {
      const n = i % 40;
      let body = '';
      for (let j = 0; j < n; j++) body += alphabet[crypto.randomInt(alphabet.length)];
      cases.push(body);
    }
    for (const body of cases) expect([JSON.stringify(body), relaxedBodyHash(Buffer.from(body, 'latin1'))]).toEqual([JSON.stringify(body), slow(body)]);
  });
});

describe('crlf', () => {
  it('leaves a CRLF message as it is (the same buffer) and turns bare LFs into CRLF', () => {
    const ok = Buffer.from('A: b\r\n\r\nbody\r\n');
    expect(crlf(ok)).toBe(ok);
    expect(crlf(Buffer.from('\nA: b\r\n\r\nbo\ndy\n')).toString()).toBe('\r\nA: b\r\n\r\nbo\r\ndy\r\n');
    expect(crlf(Buffer.from('no line end')).toString()).toBe('no line end');
    // a bare CR too: the SMTP data stream sends it as CRLF
    expect(crlf(Buffer.from('A: b\r\n\r\nbare\rcr\r\r\n')).toString()).toBe('A: b\r\n\r\nbare\r\ncr\r\n\r\n');
    expect(crlf(Buffer.from('ends with CR\r')).toString()).toBe('ends with CR\r\n');
  });
});
