import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { asFile, expectError } from '../helpers/responses.ts';
import { readXlsx } from '../helpers/xlsx-sheet.ts';
import { finishedRequestRow, waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// Result codes of the console guide that need a cause of their own: UNKNOWN_DOMAIN_ADDRESS (the
// project's blocked-domain list), EMPTY_BODY_CONTENT (a body that renders empty) and the
// *_ABNORMAL temporary causes recorded beside RESENDING_MAIL / RESEND_MAIL_FAIL.

const { svc, sink } = useTestService({ env: { RETRY_LIMIT: '1', RETRY_BASE_DELAY_MS: '100' } });
let other: CreatedKey;
const rcpts: string[] = [];

beforeAll(async () => {
  other = await svc.newKey('other-project');
});
afterEach(() => {
  sink.reset();
  rcpts.length = 0;
});

function countRcpts(decide: (address: string) => 'accept' | 'defer' | { code: number; message: string } = () => 'accept') {
  sink.onRcpt((address) => {
    rcpts.push(address.toLowerCase());
    return decide(address.toLowerCase());
  });
}

/** Sends and waits for the request to finish; returns its id and its mails' details. */
async function send(body: Record<string, unknown>, key?: CreatedKey) {
  const res = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'ops@company.com', title: 'T', body: '<p>b</p>', ...body }, key });
  expect(res.status).toBe(201);
  const requestId = res.body.requestId as string;
  const status = (await finishedRequestRow(svc, requestId, { key })).emailStatus.code as string;
  const mails = (await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=100`, { key })).body.content as { mailId: string }[];
  const details = await Promise.all(mails.map(async (m) => (await svc.call('GET', `/api/v1/mails/${m.mailId}`, { key })).body));
  const recipient = (address: string) => details.flatMap((d) => d.recipients).find((r: { address: string }) => r.address === address);
  return { requestId, status, details, recipient };
}

describe('blocked domains API', () => {
  it('registers normalised domains, lists them (paged, filtered) and deletes them with a JSON body', async () => {
    const add = await svc.call('POST', '/api/v1/blocked-domains', {
      body: { domains: ['Spam.Example', 'spam.example.', 'bücher.example', 'junk.example.net'] },
    });
    expect(add.status).toBe(201);
    expect(add.body).toEqual({ count: 3, requestCount: 4, ignoreCount: 1 });
    expect((await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['SPAM.example'] } })).body).toEqual({
      count: 0,
      requestCount: 1,
      ignoreCount: 1,
    });

    const all = await svc.call('GET', '/api/v1/blocked-domains?sort=domain,asc');
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ totalElements: 3, number: 0, size: 10, first: true, last: true });
    expect(all.body.content.map((d: { domain: string }) => d.domain)).toEqual(['junk.example.net', 'spam.example', 'xn--bcher-kva.example']);
    expect(all.body.content[0].createDate).toEqual({
      utc: expect.any(Number),
      formattedDate: expect.any(String),
      formattedDateTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \d{3}$/),
    });

    const filtered = await svc.call('GET', '/api/v1/blocked-domains?domain=SPAM&size=1');
    expect(filtered.body).toMatchObject({ totalElements: 1, content: [{ domain: 'spam.example' }] });
    const paged = await svc.call('GET', '/api/v1/blocked-domains?size=2&page=1');
    expect(paged.body).toMatchObject({ totalElements: 3, number: 1, size: 2, content: [expect.any(Object)] });

    // another project sees none of them
    expect((await svc.call('GET', '/api/v1/blocked-domains', { key: other })).body).toMatchObject({ totalElements: 0, content: [] });

    const del = await svc.call('DELETE', '/api/v1/blocked-domains', { body: { domains: ['JUNK.example.net', 'bücher.example', 'never.example'] } });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ count: 2, requestCount: 3, ignoreCount: 1 });
    expect((await svc.call('GET', '/api/v1/blocked-domains')).body.content.map((d: { domain: string }) => d.domain)).toEqual(['spam.example']);
  });

  it('refuses what is not a domain name of two labels or more, naming the entry', async () => {
    expectError(await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: [] } }), '77102', 'domains');
    expectError(await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['ok.example', 'com'] } }), '77102', 'domains[1]');
    expectError(await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['exa mple.com'] } }), '77102', 'domains[0]');
    expectError(await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['user@spam.example'] } }), '77102', 'domains[0]');
    expectError(await svc.call('DELETE', '/api/v1/blocked-domains', { body: { domains: ['-bad-.example'] } }), '77102', 'domains[0]');
    expectError(await svc.call('POST', '/api/v1/blocked-domains', { body: {} }), '77102', 'domains');
  });
});

describe('UNKNOWN_DOMAIN_ADDRESS', () => {
  it("fails recipients in a blocked domain or its subdomains without an RCPT; others and other projects' mail are sent", async () => {
    await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['blocked.example'] } });
    countRcpts();
    const sent = await send({
      recipients: [{ address: 'a@Blocked.Example' }, { address: 'b@mx.blocked.example' }, { address: 'c@notblocked.example' }, { address: 'd@example.com' }],
    });
    expect(sent.status).toBe('PF');
    for (const a of ['a@Blocked.Example', 'b@mx.blocked.example']) {
      expect(sent.recipient(a)).toMatchObject({ status: { code: 'F' }, sendResultCode: 'UNKNOWN_DOMAIN_ADDRESS', received: false });
    }
    expect(sent.recipient('c@notblocked.example')).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(sent.recipient('d@example.com')).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });
    expect(rcpts.sort()).toEqual(['c@notblocked.example', 'd@example.com']);

    const found = await svc.call('GET', `/api/v1/mails/recipients?requestId=${sent.requestId}&sendResultCode=UNKNOWN_DOMAIN_ADDRESS`);
    expect(found.body.content.map((r: { address: string }) => r.address).sort()).toEqual(['a@Blocked.Example', 'b@mx.blocked.example']);

    // the list is the project's own
    const theirs = await send({ recipients: [{ address: 'x@blocked.example' }] }, other);
    expect(theirs.status).toBe('S');
    expect(rcpts).toContain('x@blocked.example');
  });

  it('a general mail skips the blocked recipient and sends to the others', async () => {
    await svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['blocked.example'] } });
    countRcpts();
    const sent = await send({ individual: false, recipients: [{ address: 'to@example.com' }, { address: 'cc@blocked.example', type: 'C' }] });
    expect(sent.status).toBe('PF');
    expect(sent.recipient('cc@blocked.example')).toMatchObject({ sendResultCode: 'UNKNOWN_DOMAIN_ADDRESS' });
    expect(rcpts).toEqual(['to@example.com']);
  });
});

describe('EMPTY_BODY_CONTENT', () => {
  it('a body that renders empty fails that recipient; the others are sent', async () => {
    countRcpts();
    const sent = await send({
      body: '<div>${B}</div>',
      recipients: [
        { address: 'empty@example.com', parameters: { B: '' } },
        { address: 'spaces@example.com', parameters: { B: ' &nbsp;<br> ' } },
        { address: 'image@example.com', parameters: { B: '<img src="https://example.com/a.png">' } },
        { address: 'text@example.com', parameters: { B: 'hello' } },
      ],
    });
    expect(sent.status).toBe('PF');
    for (const a of ['empty@example.com', 'spaces@example.com']) {
      expect(sent.recipient(a)).toMatchObject({
        status: { code: 'F' },
        sendResultCode: 'EMPTY_BODY_CONTENT',
        sendResultMessage: expect.stringContaining('empty'),
      });
    }
    for (const a of ['image@example.com', 'text@example.com']) expect(sent.recipient(a)).toMatchObject({ sendResultCode: 'MAIL_SENT' });
    expect(rcpts.sort()).toEqual(['image@example.com', 'text@example.com']);
  });
});

describe('temporary causes (*_ABNORMAL)', () => {
  it('records the last temporary cause beside RESEND_MAIL_FAIL, shows it, and finds it by sendResultCode', async () => {
    countRcpts((a) => (a === 'busy@example.com' ? { code: 450, message: '4.2.1 mailbox busy' } : a === 'later@example.com' ? 'defer' : 'accept'));
    const sent = await send({ recipients: [{ address: 'busy@example.com' }, { address: 'later@example.com' }, { address: 'fine@example.com' }] });
    expect(sent.status).toBe('PF');
    expect(sent.recipient('busy@example.com')).toMatchObject({
      status: { code: 'F' },
      sendResultCode: 'RESEND_MAIL_FAIL',
      retryCount: 1,
      temporaryResultCode: 'MAILBOX_ABNORMAL',
      temporaryResultCodeMessage: expect.any(String),
    });
    expect(sent.recipient('later@example.com')).toMatchObject({ sendResultCode: 'RESEND_MAIL_FAIL', temporaryResultCode: 'RECEIVE_MAIL_SERVICE_ABNORMAL' });
    expect(sent.recipient('fine@example.com')).toMatchObject({ sendResultCode: 'MAIL_SENT', temporaryResultCode: null, temporaryResultCodeMessage: null });

    const q = `requestId=${sent.requestId}`;
    const view = await svc.call('GET', `/api/v1/mails/recipients?${q}&sendResultCode=MAILBOX_ABNORMAL`);
    expect(view.status).toBe(200);
    expect(view.body.content).toHaveLength(1);
    expect(view.body.content[0]).toMatchObject({ address: 'busy@example.com', sendResultCode: 'RESEND_MAIL_FAIL', temporaryResultCode: 'MAILBOX_ABNORMAL' });
    // without the requestId: the recipient view's own index range per cause
    const wide = await svc.call('GET', '/api/v1/mails/recipients?sendResultCode=RECEIVE_MAIL_SERVICE_ABNORMAL,MAILBOX_ABNORMAL');
    expect(wide.body.content.map((r: { address: string }) => r.address).sort()).toEqual(['busy@example.com', 'later@example.com']);
    // a row matching both its own code and its cause is listed once
    const both = await svc.call('GET', `/api/v1/mails/recipients?sendResultCode=RESEND_MAIL_FAIL&sendResultCode=MAILBOX_ABNORMAL`);
    expect(both.body.content.map((r: { address: string }) => r.address).sort()).toEqual(['busy@example.com', 'later@example.com']);
    expect(both.body.totalElements).toBe(2);

    const requests = await svc.call('GET', `/api/v1/mails/requests?sendResultCode=MAILBOX_ABNORMAL`);
    expect(requests.body.content.map((r: { requestId: string }) => r.requestId)).toEqual([sent.requestId]);
    const mails = await svc.call('GET', `/api/v1/mails/requests/${sent.requestId}/mails?sendResultCode=MAILBOX_ABNORMAL`);
    expect(mails.body.content).toHaveLength(1);
    const mailDetail = (await svc.call('GET', `/api/v1/mails/${mails.body.content[0].mailId}`)).body;
    expect(mailDetail.recipients[0].address).toBe('busy@example.com');

    expect((await svc.call('GET', `/api/v1/mails/recipients?${q}&sendResultCode=CONNECTION_ABNORMAL`)).body.content).toEqual([]);

    // the recipient export: same filter, and the cause in its own column
    const created = await svc.call('POST', '/api/v1/exports', {
      body: { view: 'recipients', filters: { requestId: sent.requestId, sendResultCode: 'MAILBOX_ABNORMAL' } },
    });
    expect(created.status).toBe(202);
    await waitFor(
      async () => {
        const e = (await svc.call('GET', '/api/v1/exports?size=100')).body.content.find((x: { exportId: string }) => x.exportId === created.body.exportId);
        return e?.status.code === 'C' ? e : undefined;
      },
      30_000,
      'the export',
    );
    const file = await asFile(svc.call('GET', `/api/v1/exports/${created.body.exportId}/file`));
    const [header, ...rows] = (await readXlsx(file.body as Buffer)).sheets[0]!;
    expect(rows).toHaveLength(1);
    expect(rows[0]![header!.indexOf('Address')]).toBe('busy@example.com');
    expect(rows[0]![header!.indexOf('Send result code')]).toBe('RESEND_MAIL_FAIL');
    expect(rows[0]![header!.indexOf('Temporary failure cause')]).toBe('MAILBOX_ABNORMAL');
  });

  it('a relay that stops answering is CONNECTION_ABNORMAL', async () => {
    countRcpts();
    sink.setStall(true);
    const sent = await send({ recipients: [{ address: 'stalled@example.com' }] });
    expect(sent.status).toBe('F');
    expect(sent.recipient('stalled@example.com')).toMatchObject({
      sendResultCode: 'RESEND_MAIL_FAIL',
      temporaryResultCode: 'CONNECTION_ABNORMAL',
      retryCount: 1,
    });
    const found = await svc.call('GET', `/api/v1/mails/recipients?requestId=${sent.requestId}&sendResultCode=CONNECTION_ABNORMAL`);
    expect(found.body.content.map((r: { address: string }) => r.address)).toEqual(['stalled@example.com']);
  }, 30_000);

  it('a recipient sent after a retry keeps its cause for information but is found as MAIL_SENT only', async () => {
    let deferred = false;
    countRcpts(() => {
      if (deferred) return 'accept';
      deferred = true;
      return 'defer';
    });
    const sent = await send({ recipients: [{ address: 'later@example.com' }] });
    expect(sent.status).toBe('S');
    expect(sent.recipient('later@example.com')).toMatchObject({
      sendResultCode: 'MAIL_SENT',
      retryCount: 1,
      temporaryResultCode: 'RECEIVE_MAIL_SERVICE_ABNORMAL',
    });
    const q = `requestId=${sent.requestId}`;
    expect((await svc.call('GET', `/api/v1/mails/recipients?${q}&sendResultCode=RECEIVE_MAIL_SERVICE_ABNORMAL`)).body.content).toEqual([]);
    expect((await svc.call('GET', `/api/v1/mails/recipients?${q}&sendResultCode=MAIL_SENT`)).body.content).toHaveLength(1);
  });

  it('refuses an unknown sendResultCode, naming it', async () => {
    expectError(await svc.call('GET', '/api/v1/mails/recipients?sendResultCode=CONNECTION_WEIRD'), '77102', 'sendResultCode');
  });
});
