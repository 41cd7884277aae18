import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Resolver } from 'node:dns/promises';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { startTestDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { expectError } from '../helpers/responses.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// Sender domains (PRODUCT §11): the API, checks through a DNS server on loopback (DNS_SERVERS),
// DKIM signing of mail from a verified domain (checked by mailauth, an independent verifier,
// resolving the key from the same DNS server) and a key rotation without a gap.

let dns: TestDnsServer;
// BOUNCE_DOMAIN: a general mail to several recipients goes out as one transaction each, from its VERP return path.
const env: Record<string, string> = { PUBLIC_BASE_URL: 'https://mail.example.net', BOUNCE_DOMAIN: 'bounces.example.net' };
// Before the service's own beforeAll: DNS_SERVERS names this server.
beforeAll(async () => {
  dns = await startTestDnsServer();
  env.DNS_SERVERS = dns.server;
});
afterAll(async () => {
  await dns.close();
});
const { svc, sink } = useTestService({ env, resetSinkAfterEach: true });
let other: CreatedKey;
beforeAll(async () => {
  other = await svc.newKey('other-project');
});

const create = (body: unknown, key?: CreatedKey) => svc.call('POST', '/api/v1/domains', { body, key });
const verify = (domain: string, key?: CreatedKey) => svc.call('POST', `/api/v1/domains/${encodeURIComponent(domain)}/verify`, { key });
const get = (domain: string, key?: CreatedKey) => svc.call('GET', `/api/v1/domains/${encodeURIComponent(domain)}`, { key });

/** Publishes what the answer says to publish (DKIM record of every key, SPF and DMARC). */
function publish(d: any, what: { spf?: boolean; dmarc?: boolean; selectors?: string[] } = {}) {
  for (const k of d.dkimKeys) if (!what.selectors || what.selectors.includes(k.selector)) dns.txt.set(k.dnsName, [k.dnsValue]);
  if (what.spf) dns.txt.set(d.spf.dnsName, [d.spf.dnsValue]);
  if (what.dmarc) dns.txt.set(d.dmarc.dnsName, [d.dmarc.dnsValue]);
}

/** Sends a mail from `sender` (to kim@example.org unless `body` says otherwise); the `copies` messages the sink received. */
async function sendCopies(sender: string, body: Record<string, unknown> = {}, copies = 1) {
  const res = await svc.call('POST', '/api/v1/mails', {
    body: { senderAddress: sender, title: 'Hello 안녕 こんにちは', body: '<p>Body</p>', recipients: [{ address: 'kim@example.org', type: 'R' }], ...body },
  });
  expect(res.status).toBe(201);
  expect((await finishedRequestRow(svc, res.body.requestId)).emailStatus.code).toBe('S');
  return sink.waitForMessages(copies);
}
const sendFrom = async (sender: string, body: Record<string, unknown> = {}) => (await sendCopies(sender, body))[0]!.raw;

const resolver = new Resolver();
/** mailauth's verdict on a received message, the public key looked up at our loopback DNS server. */
async function verifyDkim(raw: Buffer) {
  resolver.setServers([dns.server]);
  const result = await dkimVerify(raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') } as never);
  return result.results;
}

const signatureOf = (raw: Buffer) => /^DKIM-Signature:((?:.*\r\n[ \t].*)*.*)/im.exec(raw.toString('latin1'))?.[1]?.replace(/\s+/g, '');

describe('sender domains: the API', () => {
  it('createSenderDomain answers 201 with the records to publish; an RSA 2048 key by default, the private key sealed', async () => {
    const res = await create({ domain: 'Shop.Example.COM' });
    expect(res.status).toBe(201);
    const d = res.body;
    expect(d).toMatchObject({
      domain: 'shop.example.com',
      status: { code: 'P', label: 'Pending verification' },
      dkim: { algorithm: 'rsa-sha256', dnsName: `${d.dkim.selector}._domainkey.shop.example.com` },
      spf: { dnsName: 'shop.example.com', dnsValue: 'v=spf1 mx ~all', found: false },
      dmarc: { dnsName: '_dmarc.shop.example.com', dnsValue: expect.stringMatching(/^v=DMARC1; p=none/), found: false },
      checkDate: null,
    });
    expect(d.dkim.selector).toMatch(/^om[0-9a-z]+$/);
    expect(d.dkim.dnsValue).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/);
    const der = Buffer.from(d.dkim.dnsValue.split('p=')[1], 'base64');
    const { createPublicKey } = await import('node:crypto');
    expect(createPublicKey({ key: der, format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(JSON.stringify(d)).not.toMatch(/PRIVATE KEY/);
    const row = await svc.db.db.selectFrom('dkim_keys').select('sealed_private_key').executeTakeFirstOrThrow();
    expect(row.sealed_private_key).not.toMatch(/PRIVATE KEY/);
    expect(svc.box.open(row.sealed_private_key)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // localised status label
    const ko = await svc.call('GET', '/api/v1/domains/shop.example.com', { headers: { 'x-ncp-lang': 'ko-KR' } });
    expect(ko.body.status).toEqual({ code: 'P', label: '인증 대기' });
  });

  it('Ed25519 on request: the record publishes the raw 32-byte key (RFC 8463)', async () => {
    const res = await create({ domain: 'ed.example.com', algorithm: 'ed25519-sha256' });
    expect(res.status).toBe(201);
    expect(res.body.dkim.algorithm).toBe('ed25519-sha256');
    expect(res.body.dkim.dnsValue).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(res.body.dkim.dnsValue.split('p=')[1], 'base64')).toHaveLength(32);
  });

  it('lists and gets the project’s domains; internationalised names as punycode; a repeat is refused', async () => {
    expect((await create({ domain: 'bücher.example' })).body.domain).toBe('xn--bcher-kva.example');
    expect((await get('BÜCHER.example')).body.domain).toBe('xn--bcher-kva.example');
    expectError(await create({ domain: 'shop.example.com.' }), '77102', 'already');
    const list = await svc.call('GET', '/api/v1/domains');
    expect(list.status).toBe(200);
    expect(list.body.content.map((d: any) => d.domain)).toEqual(['ed.example.com', 'shop.example.com', 'xn--bcher-kva.example']);
    expect(list.body.totalElements).toBe(3);
  });

  it('hostile input answers 400 naming the field, never 500', async () => {
    for (const domain of [
      '',
      'com',
      '-bad.example',
      'exa mple.com',
      'a..example',
      'x'.repeat(64) + '.example',
      'a.'.repeat(200) + 'com',
      'nul\u0000.example',
      '<script>.example',
    ]) {
      const res = await create({ domain });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/domain/);
    }
    for (const body of [{}, { domain: 42 }, { domain: ['a.example'] }, { domain: 'ok.example', algorithm: 'dsa' }]) {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/domain|algorithm/);
    }
    for (const path of ['%00', 'x'.repeat(5000), '..', 'no-such.example']) {
      expectError(await svc.call('GET', `/api/v1/domains/${path}`), '77103');
      expectError(await svc.call('POST', `/api/v1/domains/${path}/verify`), '77103');
      expectError(await svc.call('DELETE', `/api/v1/domains/${path}`), '77103');
    }
  });

  it('another project’s domain answers 400/77103 everywhere, and is not in its list', async () => {
    expectError(await get('shop.example.com', other), '77103');
    expectError(await verify('shop.example.com', other), '77103');
    expectError(await svc.call('POST', '/api/v1/domains/shop.example.com/rotate', { key: other, body: {} }), '77103');
    expectError(await svc.call('DELETE', '/api/v1/domains/shop.example.com', { key: other }), '77103');
    expect((await svc.call('GET', '/api/v1/domains', { key: other })).body.content).toEqual([]);
    // the other project may add the same domain for itself
    expect((await create({ domain: 'shop.example.com' }, other)).status).toBe(201);
  });

  it('verifySenderDomain: F while the record is missing or wrong; V once it is published; SPF and DMARC reported', async () => {
    const d = (await get('shop.example.com')).body;
    let res = await verify('shop.example.com');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: { code: 'F' }, spf: { found: false }, dmarc: { found: false } });
    expect(res.body.checkDate).not.toBeNull();
    expect(dns.queries).toContain(d.dkim.dnsName);
    // another key's record does not verify this one
    dns.txt.set(d.dkim.dnsName, ['v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong']);
    expect((await verify('shop.example.com')).body.status.code).toBe('F');
    publish(d, { spf: true, dmarc: true });
    res = await verify('shop.example.com');
    expect(res.body).toMatchObject({ status: { code: 'V', label: 'Verified' }, spf: { found: true }, dmarc: { found: true } });
    expect(res.body.dkimKeys).toEqual([expect.objectContaining({ selector: d.dkim.selector, signing: true, status: expect.objectContaining({ code: 'V' }) })]);
  });

  it('a resolver that can not answer changes nothing: 503, and the domain stays verified', async () => {
    const d = (await get('shop.example.com')).body;
    dns.servfail.add(d.dkim.dnsName);
    try {
      const res = await verify('shop.example.com');
      expect(res.status).toBe(503);
      expect(res.body.error.message).toMatch(/DNS server did not answer/);
    } finally {
      dns.servfail.delete(d.dkim.dnsName);
    }
    expect((await get('shop.example.com')).body).toMatchObject({ status: { code: 'V' }, checkDate: d.checkDate });
  });
});

describe('sender domains: DKIM signing', () => {
  it('mail from a verified domain is signed relaxed/relaxed over the headers that matter, and mailauth verifies it', async () => {
    const d = (await get('shop.example.com')).body;
    const raw = await sendFrom('news@shop.example.com', { individual: true, body: '<p>Paid. <a href="#{UNSUBSCRIBE_URL}">out</a></p>' });
    const sig = signatureOf(raw)!;
    expect(sig).toContain('c=relaxed/relaxed');
    expect(sig).toContain('d=shop.example.com');
    expect(sig).toContain(`s=${d.dkim.selector}`);
    const h = /;h=([^;]+)/.exec(sig)![1]!.toLowerCase().split(':');
    for (const f of ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'list-unsubscribe', 'list-unsubscribe-post'])
      expect(h).toContain(f);
    const results = await verifyDkim(raw);
    expect(results).toEqual([
      expect.objectContaining({ signingDomain: 'shop.example.com', selector: d.dkim.selector, status: expect.objectContaining({ result: 'pass' }) }),
    ]);
  });

  it('a body with bare CR and LF line ends verifies too (the signature covers them as the SMTP data stream sends them, CRLF)', async () => {
    const raw = await sendFrom('news@shop.example.com', { body: '<p>bare\rcarriage return</p>\n<p>bare\nline feed</p>' });
    expect(await verifyDkim(raw)).toEqual([
      expect.objectContaining({ signingDomain: 'shop.example.com', status: expect.objectContaining({ result: 'pass' }) }),
    ]);
  });

  it('a tampered body or To header fails the independent verification (the signature is real)', async () => {
    const raw = (await sendFrom('news@shop.example.com')).toString('latin1');
    const tampered = raw.replace('<p>Body</p>', '<p>B0dy</p>');
    expect(tampered).not.toBe(raw);
    const [body] = await verifyDkim(Buffer.from(tampered, 'latin1'));
    expect(body!.status.result).not.toBe('pass');
    expect(body!.status.comment).toMatch(/body hash/);
    const [header] = await verifyDkim(Buffer.from(raw.replace(/^To: .*$/m, 'To: someone@else.example'), 'latin1'));
    expect(header!.status.result).toBe('fail');
  });

  it('mail from an unverified domain, another project’s verified domain, or any other domain is not signed', async () => {
    expect(signatureOf(await sendFrom('a@ed.example.com'))).toBeUndefined();
    sink.reset();
    expect(signatureOf(await sendFrom('a@unknown.example'))).toBeUndefined();
    sink.reset();
    // verified for the other project only
    const theirs = (await create({ domain: 'theirs.example' }, other)).body;
    publish(theirs);
    expect((await verify('theirs.example', other)).body.status.code).toBe('V');
    sink.reset();
    expect(signatureOf(await sendFrom('a@theirs.example'))).toBeUndefined();
  });

  it('a general mail to two recipients, one transaction each from its own return path, carries one signature that verifies in both', async () => {
    const recipients = [
      { address: 'kim@example.org', type: 'R' },
      { address: 'lee@example.org', type: 'C' },
    ];
    const copies = await sendCopies('news@shop.example.com', { individual: false, recipients }, 2);
    expect(new Set(copies.map((m) => m.from)).size).toBe(2);
    for (const m of copies) expect(m.from).toMatch(/@bounces\.example\.net$/);
    expect(signatureOf(copies[0]!.raw)).toBe(signatureOf(copies[1]!.raw));
    for (const m of copies)
      expect(await verifyDkim(m.raw)).toEqual([
        expect.objectContaining({ signingDomain: 'shop.example.com', status: expect.objectContaining({ result: 'pass' }) }),
      ]);
  });

  it('an Ed25519 key signs too (ed25519-sha256, RFC 8463), and mailauth verifies it', async () => {
    const d = (await get('ed.example.com')).body;
    publish(d);
    expect((await verify('ed.example.com')).body.status.code).toBe('V');
    const raw = await sendFrom('hello@ed.example.com', { individual: true, body: '<p>Ed  body \t with  spaces</p><p>#{UNSUBSCRIBE_URL}</p>' });
    const sig = signatureOf(raw)!;
    expect(sig).toContain('a=ed25519-sha256');
    expect(sig).toContain('c=relaxed/relaxed');
    expect(/;h=([^;]+)/.exec(sig)![1]!.toLowerCase().split(':')).toEqual(
      expect.arrayContaining(['from', 'to', 'subject', 'list-unsubscribe', 'list-unsubscribe-post']),
    );
    const [r] = await verifyDkim(raw);
    expect(r).toMatchObject({ signingDomain: 'ed.example.com', selector: d.dkim.selector, status: { result: 'pass' } });
  });

  it('key rotation without a gap: the old key signs until the new record verifies, then the new one; the old is removed last', async () => {
    const before = (await get('shop.example.com')).body;
    const oldSelector = before.dkim.selector;
    const rotated = await svc.call('POST', '/api/v1/domains/shop.example.com/rotate', { body: {} });
    expect(rotated.status).toBe(201);
    const newSelector = rotated.body.dkim.selector;
    expect(newSelector).not.toBe(oldSelector);
    expect(rotated.body.status.code).toBe('V');
    expect(rotated.body.dkimKeys.map((k: any) => [k.selector, k.status.code, k.signing])).toEqual([
      [oldSelector, 'V', true],
      [newSelector, 'P', false],
    ]);
    // not yet published: the old key still signs
    let raw = await sendFrom('news@shop.example.com');
    expect(signatureOf(raw)).toContain(`s=${oldSelector};`);
    expect((await verifyDkim(raw))[0]!.status.result).toBe('pass');
    sink.reset();
    // published and verified: the new key signs
    publish(rotated.body, { selectors: [newSelector] });
    const checked = (await verify('shop.example.com')).body;
    expect(checked.dkimKeys.map((k: any) => [k.selector, k.status.code, k.signing])).toEqual([
      [oldSelector, 'V', false],
      [newSelector, 'V', true],
    ]);
    raw = await sendFrom('news@shop.example.com');
    expect(signatureOf(raw)).toContain(`s=${newSelector};`);
    expect((await verifyDkim(raw))[0]!.status.result).toBe('pass');
    // the old key goes; the only key can't
    expect((await svc.call('DELETE', `/api/v1/domains/shop.example.com/keys/${oldSelector}`)).status).toBe(204);
    expect((await get('shop.example.com')).body.dkimKeys.map((k: any) => k.selector)).toEqual([newSelector]);
    expectError(await svc.call('DELETE', `/api/v1/domains/shop.example.com/keys/${newSelector}`), '77102', 'only key');
    expectError(await svc.call('DELETE', `/api/v1/domains/shop.example.com/keys/${oldSelector}`), '77103');
  });

  it('deleteSenderDomain answers 204; the domain is gone and its mail is no longer signed', async () => {
    expect((await svc.call('DELETE', '/api/v1/domains/shop.example.com')).status).toBe(204);
    expectError(await get('shop.example.com'), '77103');
    expect(
      await svc.db.db
        .selectFrom('dkim_keys')
        .innerJoin('sender_domains as d', 'd.id', 'dkim_keys.sender_domain_id')
        .where('d.domain', '=', 'shop.example.com')
        .where('d.project_id', '=', svc.key.projectId)
        .select('dkim_keys.id')
        .execute(),
    ).toEqual([]);
    expect(signatureOf(await sendFrom('news@shop.example.com'))).toBeUndefined();
  });
});
