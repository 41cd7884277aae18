import { describe, expect, it } from '@jest/globals';
import { mergeOutcomes, recipientErrors } from '../../src/modules/delivery/direct-transport.ts';
import { classifySmtpReply } from '../../src/modules/delivery/classify-smtp-reply.ts';
import { dnsTemporaryFailure, groupByDomain, isNullMx, noSuchDomain, orderMxHosts, shouldTryNextHost } from '../../src/modules/delivery/mx-routing.ts';

/** What smtp-attempt hands classifySmtpReply for an error or a rejectedErrors entry. */
const classify = (e: { code?: string; response?: string; responseCode?: number; message?: string }) =>
  classifySmtpReply({ errorCode: e.code, response: e.response, responseCode: e.responseCode, message: e.message });

describe('groupByDomain', () => {
  it('puts each domain’s recipients together, in envelope order, one group per domain whatever its case', () => {
    const groups = groupByDomain(['a@Example.com', 'b@other.org', 'c@example.COM', 'd@other.org.']);
    expect([...groups]).toEqual([
      ['example.com', ['a@Example.com', 'c@example.COM']],
      ['other.org', ['b@other.org', 'd@other.org.']],
    ]);
  });

  it('looks up an internationalised domain by its A-labels', () => {
    expect([...groupByDomain(['kim@도메인.한국']).keys()]).toEqual(['xn--hq1bm8jm9l.xn--3e0b707e']);
  });

  it('keeps an address without a domain apart, under no domain', () => {
    expect(groupByDomain(['nobody']).get('')).toEqual(['nobody']);
  });
});

describe('orderMxHosts', () => {
  const records = [
    { exchange: 'backup.example.com', priority: 20 },
    { exchange: 'mx1.example.com', priority: 10 },
    { exchange: 'MX2.example.com.', priority: 10 },
  ];

  it('tries the lowest preference first', () => {
    expect(orderMxHosts(records).at(-1)).toBe('backup.example.com');
  });

  it('orders equal preferences at random, so both are used', () => {
    const draws = [0.5, 0.9, 0.1]; // backup, mx1, mx2
    expect(orderMxHosts(records, () => draws.shift()!)).toEqual(['mx2.example.com', 'mx1.example.com', 'backup.example.com']);
    const firsts = new Set(Array.from({ length: 50 }, () => orderMxHosts(records)[0]));
    expect(firsts).toEqual(new Set(['mx1.example.com', 'mx2.example.com']));
  });

  it('lists a host named twice once, at its best preference', () => {
    expect(
      orderMxHosts([
        { exchange: 'mx.example.com', priority: 30 },
        { exchange: 'mx.example.com', priority: 5 },
        { exchange: 'other.example.com', priority: 10 },
      ]),
    ).toEqual(['mx.example.com', 'other.example.com']);
  });
});

describe('isNullMx', () => {
  it('is one MX whose exchange is the root', () => {
    expect(isNullMx([{ exchange: '', priority: 0 }])).toBe(true);
    expect(isNullMx([{ exchange: '.', priority: 0 }])).toBe(true);
    expect(isNullMx([{ exchange: 'mx.example.com', priority: 0 }])).toBe(false);
    expect(isNullMx([])).toBe(false);
  });
});

describe('DNS outcomes as result codes', () => {
  it('a domain that does not exist, has no mail host or a null MX fails at once as NONEXISTENT_DOMAIN_ADDRESS', () => {
    for (const e of [noSuchDomain('nx.example does not exist (NXDOMAIN)'), noSuchDomain('x.example accepts no mail (null MX, RFC 7505)')]) {
      expect(classify(e)).toMatchObject({ resultCode: 'NONEXISTENT_DOMAIN_ADDRESS', temporary: false, hardBounce: true });
    }
  });

  it('SERVFAIL or a time-out is a temporary connection problem', () => {
    expect(classify(dnsTemporaryFailure('MX of example.com: ESERVFAIL'))).toMatchObject({ resultCode: 'CONNECTION_ABNORMAL', temporary: true });
    expect(classify(dnsTemporaryFailure('A of mx.example.com: ETIMEOUT'))).toMatchObject({ resultCode: 'CONNECTION_ABNORMAL', temporary: true });
  });
});

describe('shouldTryNextHost', () => {
  it('moves on when a host cannot be reached or refuses at its greeting', () => {
    expect(shouldTryNextHost({ code: 'ESOCKET', command: 'CONN', originalCode: 'ECONNREFUSED' })).toBe(true);
    expect(shouldTryNextHost({ code: 'ETIMEDOUT', command: 'CONN', message: 'Connection timeout' })).toBe(true);
    expect(shouldTryNextHost({ code: 'ETIMEDOUT', command: 'CONN', message: 'Greeting never received' })).toBe(true);
    expect(shouldTryNextHost({ code: 'EPROTOCOL', command: 'CONN', responseCode: 421 })).toBe(true);
    expect(shouldTryNextHost({ code: 'ETLS', command: 'STARTTLS' })).toBe(true);
    expect(shouldTryNextHost({ code: 'ECONNECTION' })).toBe(true);
  });

  it('stops at the domain’s answer to the envelope or the message', () => {
    expect(shouldTryNextHost({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550 })).toBe(false);
    expect(shouldTryNextHost({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 451 })).toBe(false);
    expect(shouldTryNextHost({ code: 'EMESSAGE', command: 'DATA', responseCode: 554 })).toBe(false);
    // nodemailer labels a drop mid-session 'CONN' too: the first host may have the mail already
    expect(shouldTryNextHost({ code: 'ECONNECTION', command: 'CONN', message: 'Connection closed unexpectedly' })).toBe(false);
    expect(shouldTryNextHost({ code: 'ESOCKET', command: 'CONN', originalCode: 'ECONNRESET' })).toBe(false);
    expect(shouldTryNextHost({ code: 'ETIMEDOUT', command: 'CONN', message: 'Timeout' })).toBe(false);
    expect(shouldTryNextHost({ code: 'EENVELOPE' })).toBe(false);
  });
});

describe('mergeOutcomes', () => {
  const envelope = { from: 's@sender.test', to: ['a@one.test', 'b@one.test', 'c@two.test'] };
  const rcptRefusal = {
    recipient: 'b@one.test',
    code: 'EENVELOPE',
    response: '550 5.1.1 <b@one.test>: user unknown',
    responseCode: 550,
    message: 'Recipient command failed',
  };

  it('accepted recipients of every domain, and per refused recipient its own reply', () => {
    const info = mergeOutcomes(
      [
        { domain: 'one.test', recipients: ['a@one.test', 'b@one.test'], info: { response: '250 OK one', rejectedErrors: [rcptRefusal] } as never },
        { domain: 'two.test', recipients: ['c@two.test'], info: { response: '250 OK two' } as never },
      ],
      envelope,
    );
    expect(info.accepted).toEqual(['a@one.test', 'c@two.test']);
    expect(info.rejectedErrors).toEqual([rcptRefusal]);
    expect(info.response).toBe('one.test: 250 OK one; two.test: 250 OK two');
  });

  it('a domain that failed as a whole refuses each of its recipients with that error', () => {
    const refused = Object.assign(new Error('mx.two.test [127.0.0.9]: connect ECONNREFUSED'), { code: 'ESOCKET', command: 'CONN' });
    const info = mergeOutcomes(
      [
        { domain: 'one.test', recipients: ['a@one.test'], info: { response: '250 OK' } as never },
        { domain: 'two.test', recipients: ['c@two.test', 'd@two.test'], error: refused },
      ],
      envelope,
    );
    expect(info.accepted).toEqual(['a@one.test']);
    expect(info.rejectedErrors.map((e: { recipient: string }) => e.recipient)).toEqual(['c@two.test', 'd@two.test']);
    expect(classify(info.rejectedErrors[0])).toMatchObject({ resultCode: 'CONNECTION_ABNORMAL', temporary: true });
  });

  it('nothing accepted: throws like nodemailer, with each recipient’s own error, so domains keep their own result codes', () => {
    let thrown: { rejectedErrors?: { recipient: string; code?: string; message: string }[] } | undefined;
    try {
      mergeOutcomes(
        [
          { domain: 'nx.test', recipients: ['a@nx.test'], error: noSuchDomain('nx.test does not exist (NXDOMAIN)') },
          {
            domain: 'busy.test',
            recipients: ['b@busy.test'],
            error: Object.assign(new Error('Invalid greeting'), { code: 'EPROTOCOL', response: '421 busy', responseCode: 421 }),
          },
        ],
        { from: 's@sender.test', to: ['a@nx.test', 'b@busy.test'] },
      );
    } catch (err) {
      thrown = err as typeof thrown;
    }
    expect(thrown?.rejectedErrors?.map((e) => [e.recipient, classify(e).resultCode])).toEqual([
      ['a@nx.test', 'NONEXISTENT_DOMAIN_ADDRESS'],
      ['b@busy.test', 'RECEIVE_MAIL_SERVICE_ABNORMAL'],
    ]);
  });

  it('keeps nodemailer’s own list when every recipient of a domain was refused at RCPT', () => {
    const err = Object.assign(new Error("Can't send mail - all recipients were rejected"), { code: 'EENVELOPE', rejectedErrors: [rcptRefusal] });
    expect(recipientErrors({ domain: 'one.test', recipients: ['b@one.test'], error: err })).toEqual([rcptRefusal]);
  });
});
