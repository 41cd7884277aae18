import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import supertest from 'supertest';
import { consolePageRouter } from '../../src/modules/console/console.router.ts';
import { revokeAccessKey } from '../../src/modules/projects/projects.repository.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * The web console's session: sign-in with a key pair, the cookie authenticating /api/v1, CSRF
 * on state-changing calls, expiry and revocation, and the console page's headers.
 */
const { svc } = useTestService({ workers: false, env: { CONSOLE_SESSION_IDLE_MINUTES: '5', CONSOLE_SESSION_MAX_HOURS: '1', TRUST_PROXY: 'loopback' } });

const AUTH_FAILED = { error: { errorCode: '200', message: 'Authentication Failed' } };
const DENIED = { error: { errorCode: '210', message: 'Permission Denied' } };
const SAME_SITE = { 'sec-fetch-site': 'same-origin' };
const MAIL = { senderAddress: 'from@example.com', title: 'Hi', body: 'Hello', recipients: [{ address: 'to@example.com', type: 'R' }] };

async function signIn(key: CreatedKey = svc.key) {
  const res = await supertest(svc.app).post('/console/session').set(SAME_SITE).send({ accessKey: key.accessKey, secretKey: key.secretKey }).expect(200);
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = setCookie.find((c) => c.startsWith('om_session='))!;
  return {
    cookie: cookie.split(';')[0]!,
    setCookie: cookie,
    body: res.body as { accessKey: string; projectId: string; csrfToken: string; expiresAt: string; adTitlePrefix: string },
  };
}

describe('sign-in', () => {
  it('a correct pair opens a session: HttpOnly SameSite=Strict cookie, CSRF token in the body, never the secret', async () => {
    const { setCookie, body } = await signIn();
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toMatch(/Secure/); // plain http here; Secure behind https (below)
    expect(body).toEqual({
      accessKey: svc.key.accessKey,
      projectId: expect.any(String),
      csrfToken: expect.stringMatching(/^[\w-]{43}$/),
      expiresAt: expect.any(String),
      adTitlePrefix: '(광고)',
    });
    expect(JSON.stringify(body)).not.toContain(svc.key.secretKey);
    const hours = (Date.parse(body.expiresAt) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(0.9);
    expect(hours).toBeLessThanOrEqual(1);
  });

  it('the database keeps a hash of the session token, not the token', async () => {
    const { cookie } = await signIn();
    const token = cookie.split('=')[1]!;
    const rows = await svc.db.db.selectFrom('console_sessions').select('id').execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.id)).not.toContain(token);
  });

  it('behind an https proxy (TRUST_PROXY) the cookie is Secure', async () => {
    const res = await supertest(svc.app)
      .post('/console/session')
      .set({ ...SAME_SITE, 'x-forwarded-proto': 'https' })
      .send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey })
      .expect(200);
    expect(String(res.headers['set-cookie'])).toMatch(/; Secure/);
  });

  it.each([
    ['a wrong secret', { accessKey: 'K', secretKey: 'x' }, 401, AUTH_FAILED],
    ['an unknown key', { accessKey: 'nope', secretKey: 'nope' }, 401, AUTH_FAILED],
    ['no secret', { accessKey: 'K' }, 400, undefined],
    ['a number', { accessKey: 'K', secretKey: 5 }, 400, undefined],
    ['a huge value', { accessKey: 'K', secretKey: 'x'.repeat(300) }, 400, undefined],
    ['a NUL in the access key', { accessKey: 'a\u0000b', secretKey: 'x' }, 401, AUTH_FAILED],
    ['a lone surrogate in the access key', { accessKey: '\ud800', secretKey: 'x' }, 401, AUTH_FAILED],
  ])('%s is refused (%#)', async (_what, body, status, expected) => {
    const send = { ...body, accessKey: body.accessKey === 'K' ? svc.key.accessKey : body.accessKey };
    const res = await supertest(svc.app).post('/console/session').set(SAME_SITE).send(send).expect(status);
    if (expected) expect(res.body).toEqual(expected);
    else expect(res.body.error.message).toMatch(/secretKey/);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('malformed JSON and a body over 4 KB answer 400 and 413, not 500', async () => {
    await supertest(svc.app).post('/console/session').set(SAME_SITE).set('content-type', 'application/json').send('{"accessKey":').expect(400);
    await supertest(svc.app)
      .post('/console/session')
      .set(SAME_SITE)
      .send({ accessKey: 'a'.repeat(5000), secretKey: 'b' })
      .expect(413);
  });

  it('a sign-in from another site is refused (login CSRF)', async () => {
    const res = await supertest(svc.app)
      .post('/console/session')
      .set({ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })
      .send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey })
      .expect(403);
    expect(res.body).toEqual(DENIED);
    await supertest(svc.app)
      .post('/console/session')
      .set({ origin: 'https://evil.example' })
      .send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey })
      .expect(403);
    await supertest(svc.app).post('/console/session').send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey }).expect(403);
  });

  it('guessing is slowed: after 10 wrong secrets from one address, 429 with Retry-After, even for the right one; other addresses and successes are not counted', async () => {
    const from = (ip: string) =>
      supertest(svc.app)
        .post('/console/session')
        .set({ ...SAME_SITE, 'x-forwarded-for': ip });
    for (let i = 0; i < 20; i++) await from('203.0.113.8').send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey }).expect(200);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await from('203.0.113.9').send({ accessKey: svc.key.accessKey, secretKey: `wrong${i}` })).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
    const refused = await from('203.0.113.9').send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey }).expect(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.body).toEqual({ error: { errorCode: '420', message: 'Rate Limited' } });
    await from('203.0.113.10').send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey }).expect(200);
  });

  it('an IPv6 client is counted by its /64: a new address of the same network for each guess does not help', async () => {
    const from = (ip: string) =>
      supertest(svc.app)
        .post('/console/session')
        .set({ ...SAME_SITE, 'x-forwarded-for': ip });
    const statuses: number[] = [];
    for (let i = 1; i <= 12; i++)
      statuses.push((await from(`2001:db8:7:7::${i.toString(16)}`).send({ accessKey: svc.key.accessKey, secretKey: `wrong${i}` })).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
    await from('2001:db8:7:8::1').send({ accessKey: svc.key.accessKey, secretKey: svc.key.secretKey }).expect(200);
  });

  it('guesses sent all at once are limited too: no more than 10 are checked', async () => {
    const guesses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        supertest(svc.app)
          .post('/console/session')
          .set({ ...SAME_SITE, 'x-forwarded-for': '203.0.113.11' })
          .send({ accessKey: svc.key.accessKey, secretKey: `parallel${i}` }),
      ),
    );
    const statuses = guesses.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(10).fill(401), ...Array(20).fill(429)]);
  });
});

describe('the session authenticates /api/v1', () => {
  it('GET with the cookie alone; GET /console/session answers the session', async () => {
    const { cookie, body } = await signIn();
    await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', cookie).expect(200);
    const me = await supertest(svc.app).get('/console/session').set('cookie', cookie).expect(200);
    expect(me.body).toEqual(body);
    expect(me.headers['cache-control']).toBe('no-store');
  });

  it('a POST needs the CSRF token and a same-origin request; with both it is created with dispatchType CONSOLE', async () => {
    const { cookie, body } = await signIn();
    const post = () => supertest(svc.app).post('/api/v1/mails').set('cookie', cookie);
    expect((await post().set(SAME_SITE).send(MAIL).expect(403)).body).toEqual(DENIED);
    await post().set(SAME_SITE).set('x-csrf-token', 'x'.repeat(43)).send(MAIL).expect(403);
    await post().set({ 'sec-fetch-site': 'same-site' }).set('x-csrf-token', body.csrfToken).send(MAIL).expect(403);
    await post().set({ origin: 'http://evil.example' }).set('x-csrf-token', body.csrfToken).send(MAIL).expect(403);
    await post().set('x-csrf-token', body.csrfToken).send(MAIL).expect(403); // neither Sec-Fetch-Site nor Origin
    const created = await post().set(SAME_SITE).set('x-csrf-token', body.csrfToken).send(MAIL).expect(201);
    // Origin alone (a browser without Sec-Fetch-Site) naming this host also passes.
    await post().set('origin', 'http://127.0.0.1').set('host', '127.0.0.1').set('x-csrf-token', body.csrfToken).send(MAIL).expect(201);
    const list = await svc.call('GET', `/api/v1/mails/requests?requestId=${created.body.requestId}`).expect(200);
    expect(list.body.content[0].dispatchType).toBe('CONSOLE');
    const signed = await svc.call('POST', '/api/v1/mails', { body: MAIL }).expect(201);
    const signedList = await svc.call('GET', `/api/v1/mails/requests?requestId=${signed.body.requestId}`).expect(200);
    expect(signedList.body.content[0].dispatchType).toBe('API');
    const consoleOnly = await svc.call('GET', '/api/v1/mails/requests?dispatchType=CONSOLE').expect(200);
    expect(consoleOnly.body.totalElements).toBe(2);
  });

  it('a signed request is checked as signed, whatever cookie it carries (a bad signature is not rescued by a session)', async () => {
    const { cookie } = await signIn();
    await supertest(svc.app)
      .get('/api/v1/mails/requests')
      .set('cookie', cookie)
      .set('x-ncp-iam-access-key', svc.key.accessKey)
      .set('x-ncp-apigw-timestamp', String(Date.now()))
      .set('x-ncp-apigw-signature-v2', 'bad')
      .expect(401);
  });

  it("two different session cookies (one tossed in by a sibling subdomain) authenticate neither: never the other project's session", async () => {
    const mine = await signIn();
    const theirs = await signIn(await svc.newKey('tossing-project'));
    for (const cookie of [`${theirs.cookie}; ${mine.cookie}`, `${mine.cookie}; ${theirs.cookie}`]) {
      await supertest(svc.app).get('/console/session').set('cookie', cookie).expect(401);
      await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', cookie).expect(401);
    }
    // the same cookie twice is still that session
    await supertest(svc.app).get('/console/session').set('cookie', `${mine.cookie}; ${mine.cookie}`).expect(200);
  });

  it('an unknown or garbage cookie answers the gateway 401', async () => {
    for (const cookie of ['om_session=nope', `om_session=${'x'.repeat(5000)}`, 'om_session=', 'other=1; om_session=%00']) {
      const res = await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', cookie);
      expect([401]).toContain(res.status);
      if (res.status === 401 && res.body.error) expect(res.body).toEqual(AUTH_FAILED);
    }
  });

  it("one project's session sees nothing of another's", async () => {
    const other = await svc.newKey('other-project');
    const theirs = await svc.call('POST', '/api/v1/mails', { body: MAIL, key: other }).expect(201);
    const { cookie } = await signIn();
    const res = await supertest(svc.app).get(`/api/v1/mails/requests/${theirs.body.requestId}/mails`).set('cookie', cookie);
    expect(res.status).toBe(400);
  });
});

describe('the session ends', () => {
  it('at sign-out: the cookie is cleared and no longer authenticates; sign-out needs the CSRF token', async () => {
    const { cookie, body } = await signIn();
    await supertest(svc.app).delete('/console/session').set('cookie', cookie).set(SAME_SITE).expect(403);
    const out = await supertest(svc.app).delete('/console/session').set('cookie', cookie).set(SAME_SITE).set('x-csrf-token', body.csrfToken).expect(204);
    expect(String(out.headers['set-cookie'])).toMatch(/om_session=;/);
    expect((await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', cookie).expect(401)).body).toEqual(AUTH_FAILED);
    await supertest(svc.app).get('/console/session').set('cookie', cookie).expect(401);
  });

  it('after the idle time, and at the absolute expiry', async () => {
    const idle = await signIn();
    const expired = await signIn();
    await svc.db.db
      .updateTable('console_sessions')
      .set({ last_seen_at: new Date(Date.now() - 6 * 60_000) })
      .where('csrf_token', '=', idle.body.csrfToken)
      .execute();
    await svc.db.db
      .updateTable('console_sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('csrf_token', '=', expired.body.csrfToken)
      .execute();
    await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', idle.cookie).expect(401);
    await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', expired.cookie).expect(401);
  });

  it('a session in use is kept alive (last_seen_at moves on)', async () => {
    const s = await signIn();
    const old = new Date(Date.now() - 4 * 60_000);
    await svc.db.db.updateTable('console_sessions').set({ last_seen_at: old }).where('csrf_token', '=', s.body.csrfToken).execute();
    await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', s.cookie).expect(200);
    const row = await svc.db.db.selectFrom('console_sessions').select('last_seen_at').where('csrf_token', '=', s.body.csrfToken).executeTakeFirstOrThrow();
    expect(row.last_seen_at.getTime()).toBeGreaterThan(old.getTime() + 60_000);
  });

  it('when its access key is revoked', async () => {
    const key = await svc.newKey('revoked-project');
    const s = await signIn(key);
    await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', s.cookie).expect(200);
    await revokeAccessKey(svc.db.db, key.accessKey);
    await supertest(svc.app).get('/api/v1/mails/requests').set('cookie', s.cookie).expect(401);
  });
});

describe('the console page', () => {
  it('/console redirects to /console/; every console path answers the page with its security headers', async () => {
    await supertest(svc.app).get('/console').expect(301).expect('location', '/console/');
    const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'console-dist-'));
    fs.mkdirSync(path.join(dist, 'assets'));
    fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>console</title>');
    fs.writeFileSync(path.join(dist, 'assets', 'app-abc.js'), 'console.log(1)');
    const app = express().use(consolePageRouter(dist));
    for (const p of ['/console/', '/console/mails', '/console/send?x=1', '/console/a/b/c']) {
      const res = await supertest(app).get(p).expect(200);
      expect(res.text).toContain('<title>console</title>');
      expect(res.headers['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
      expect(res.headers['content-security-policy']).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['cache-control']).toBe('no-cache');
    }
    const asset = await supertest(app).get('/console/assets/app-abc.js').expect(200);
    expect(asset.headers['cache-control']).toMatch(/immutable/);
    await supertest(app).get('/console/assets/missing.js').expect(404);
    await supertest(app).get('/console/assets/../../etc/passwd').expect(404);
    fs.rmSync(dist, { recursive: true, force: true });
  });

  it('without a build, 503 saying how to build it', async () => {
    const app = express().use(consolePageRouter(path.join(os.tmpdir(), 'no-such-console-dist')));
    const res = await supertest(app).get('/console/').expect(503);
    expect(res.text).toMatch(/npm run build:console/);
  });
});
