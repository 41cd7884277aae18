import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { expireSendBlocks } from '../../src/modules/send-block/send-block.service.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError } from '../helpers/responses.ts';

// The service-wide send-block list: hard bounces block, blocked addresses fail with
// SEND_BLOCK_ADDRESS and no RCPT, entries expire, getSendBlockList shows the history, /config
// sets SEND_BLOCK_TIME.

const { svc, sink } = useTestService({ env: { RETRY_LIMIT: '1', RETRY_BASE_DELAY_MS: '100' }, resetSinkAfterEach: true });
let other: CreatedKey;
const rcpts = new Map<string, number>();
const HOUR = 3_600_000;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

/** Every RCPT TO the sink sees is counted; `reject` addresses get 550 5.1.1 user unknown. */
function rcptRule(reject: string[], defer: string[] = []) {
  sink.onRcpt((address) => {
    rcpts.set(address.toLowerCase(), (rcpts.get(address.toLowerCase()) ?? 0) + 1);
    return reject.includes(address.toLowerCase()) ? 'reject' : defer.includes(address.toLowerCase()) ? 'defer' : 'accept';
  });
}

async function send(body: Record<string, unknown>, key?: CreatedKey) {
  const res = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'ops@company.com', title: 'T', body: '<p>b</p>', ...body }, key });
  expect(res.status).toBe(201);
  const requestId = res.body.requestId as string;
  const status = (await finishedRequestRow(svc, requestId, { key })).emailStatus.code as string;
  const recipients = await svc.db.db
    .selectFrom('recipients')
    .select(['address', 'status', 'result_code', 'result_message'])
    .where('request_id', '=', String(BigInt(requestId.slice(8))))
    .execute();
  const by = (address: string) => recipients.find((r) => r.address === address)!;
  return { requestId, status, by };
}

const history = (target: string, key?: CreatedKey, extra = '') =>
  svc.call('GET', `/api/v1/send-block?targetAddress=${encodeURIComponent(target)}${extra}`, { key });
const setConfig = (body: Record<string, unknown>) => svc.call('POST', '/api/v1/config', { body });
describe('send-block', () => {
  it('SEND_BLOCK_TIME is 168 hours by default', async () => {
    const res = await svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ type: 'SEND_BLOCK_TIME', subType: null, value: '168' });
  });

  it('a 550 5.1.1 bounce blocks the address for 168 h with a C history row (CUSTOMER here, OTHER_CUSTOMER elsewhere)', async () => {
    rcptRule(['bounce@example.com']);
    const before = Date.now();
    const sent = await send({ recipients: [{ address: 'bounce@example.com' }, { address: 'fine@example.com' }] });
    expect(sent.status).toBe('PF');
    expect(sent.by('bounce@example.com')).toMatchObject({ status: 'F', result_code: 'RECIPIENT_ADDRESS_ERROR' });

    const res = await history('Bounce@Example.com');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).slice(0, 3)).toEqual(['content', 'registerStatus', 'expectedDeleteDate']);
    expect(res.body).toMatchObject({ registerStatus: 'Blocked', totalElements: 1, first: true, last: true, number: 0, size: 10 });
    const until = res.body.expectedDeleteDate.utc as number;
    expect(until).toBeGreaterThanOrEqual(before + 168 * HOUR);
    expect(until).toBeLessThanOrEqual(Date.now() + 168 * HOUR);
    expect(res.body.content).toEqual([
      {
        targetAddress: 'bounce@example.com',
        actionType: { label: 'Create', code: 'C' },
        actionRequesterType: { label: 'Customer', code: 'CUSTOMER' },
        requestDate: expect.objectContaining({ utc: expect.any(Number) }),
        historySid: expect.any(Number),
        sendResultCode: 'RECIPIENT_ADDRESS_ERROR',
        sendResultMessage: expect.stringContaining('550 5.1.1'),
      },
    ]);
    const seenByOther = await history('bounce@example.com', other, '');
    expect(seenByOther.body.content[0].actionRequesterType).toEqual({ label: 'Other customer', code: 'OTHER_CUSTOMER' });
    const ko = await svc.call('GET', '/api/v1/send-block?targetAddress=bounce@example.com', { headers: { 'x-ncp-lang': 'ko-KR' } });
    expect(ko.body.content[0].actionType).toEqual({ label: '생성', code: 'C' });
    expect(ko.body.registerStatus).toBe('차단');
  });

  it('mail to a blocked address fails with F / SEND_BLOCK_ADDRESS and no RCPT, for every project, individual or general', async () => {
    rcptRule(['bounce@example.com']);
    const rcptBefore = rcpts.get('bounce@example.com') ?? 0;

    const individual = await send({ recipients: [{ address: 'BOUNCE@example.com' }, { address: 'fine2@example.com' }] }, other);
    expect(individual.status).toBe('PF');
    expect(individual.by('BOUNCE@example.com')).toMatchObject({ status: 'F', result_code: 'SEND_BLOCK_ADDRESS', result_message: null });
    expect(individual.by('fine2@example.com')).toMatchObject({ status: 'S', result_code: 'MAIL_SENT' });

    const general = await send({ individual: false, recipients: [{ address: 'to@example.com' }, { address: 'bounce@example.com', type: 'C' }] });
    expect(general.status).toBe('PF');
    expect(general.by('bounce@example.com')).toMatchObject({ status: 'F', result_code: 'SEND_BLOCK_ADDRESS' });
    expect(general.by('to@example.com')).toMatchObject({ status: 'S' });
    const msg = sink.messages.find((m) => m.to.includes('to@example.com'))!;
    expect(msg.to).toEqual(['to@example.com']);

    const all = await send({ recipients: [{ address: 'bounce@example.com' }] });
    expect(all.status).toBe('F');
    expect(rcpts.get('bounce@example.com') ?? 0).toBe(rcptBefore);
    // blocking a bounced address again adds no second C row
    expect((await history('bounce@example.com')).body.totalElements).toBe(1);
  });

  it('temporary failures and content, policy or other SMTP errors do not block', async () => {
    rcptRule(['never-used@example.com'], ['soft@example.com']);
    sink.onData((m) =>
      m.to.includes('big@example.com')
        ? { code: 552, message: '5.3.4 Message size exceeds fixed limit' }
        : m.to.includes('dmarc@example.com')
          ? { code: 550, message: '5.7.1 rejected by DMARC policy' }
          : 'accept',
    );
    const sent = await send({ recipients: [{ address: 'soft@example.com' }, { address: 'big@example.com' }, { address: 'dmarc@example.com' }] });
    expect(sent.status).toBe('F');
    expect(sent.by('soft@example.com').result_code).toBe('RESEND_MAIL_FAIL');
    expect(sent.by('big@example.com').result_code).toBe('MAIL_CONTENTS_ERROR');
    expect(sent.by('dmarc@example.com').result_code).toBe('SECURITY_AND_POLICY_ERROR');
    for (const a of ['soft@example.com', 'big@example.com', 'dmarc@example.com']) {
      const res = await history(a);
      expect(res.body).toMatchObject({ content: [], registerStatus: 'Not blocked', expectedDeleteDate: null, totalElements: 0 });
    }
  });

  it('POST /config changes SEND_BLOCK_TIME for new blocks only; HOUR or DAY', async () => {
    const set = await setConfig({ type: 'SEND_BLOCK_TIME', value: '2', unit: 'HOUR' });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ type: 'SEND_BLOCK_TIME', subType: null, value: '2' });
    expect((await svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME')).body.value).toBe('2');

    rcptRule(['bounce2@example.com']);
    const before = Date.now();
    await send({ recipients: [{ address: 'bounce2@example.com' }] });
    const until = (await history('bounce2@example.com')).body.expectedDeleteDate.utc as number;
    expect(until).toBeGreaterThanOrEqual(before + 2 * HOUR);
    expect(until).toBeLessThanOrEqual(Date.now() + 2 * HOUR);
    // the earlier block keeps its 168 h
    expect((await history('bounce@example.com')).body.expectedDeleteDate.utc).toBeGreaterThan(Date.now() + 100 * HOUR);

    expect((await setConfig({ type: 'SEND_BLOCK_TIME', value: '7', unit: 'DAY' })).body).toEqual({ type: 'SEND_BLOCK_TIME', subType: null, value: '168' });
    expect((await setConfig({ type: 'SEND_BLOCK_TIME', value: 180, unit: 'hour' })).body.value).toBe('180');
    // A setting of each project (as NCP's): another tenant neither sees nor changes it.
    expect((await svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME', { key: other })).body.value).toBe('168');
    expect((await svc.call('POST', '/api/v1/config', { key: other, body: { type: 'SEND_BLOCK_TIME', value: '1', unit: 'HOUR' } })).body.value).toBe('1');
    expect((await svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME')).body.value).toBe('180');
    expect((await svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME', { key: other })).body.value).toBe('1');
  });

  it('refuses bad config and query input with 400/77102 naming the field, changing nothing', async () => {
    expectError(await setConfig({ value: '1', unit: 'HOUR' }), '77102', 'type');
    expectError(await setConfig({ type: 'OTHER', value: '1', unit: 'HOUR' }), '77102', 'type');
    expectError(await setConfig({ type: 'SEND_BLOCK_TIME', value: '1', unit: 'WEEK' }), '77102', 'unit');
    expectError(await setConfig({ type: 'SEND_BLOCK_TIME', value: '1' }), '77102', 'unit');
    for (const value of ['0', '-1', 'abc', '1.5', '', '8761', 1.5, true]) {
      expectError(await setConfig({ type: 'SEND_BLOCK_TIME', value, unit: 'HOUR' }), '77102', 'value');
    }
    expectError(await setConfig({ type: 'SEND_BLOCK_TIME', value: '366', unit: 'DAY' }), '77102', 'value');
    expectError(await setConfig({ type: 'SEND_BLOCK_TIME', subType: 'x', value: '1', unit: 'HOUR' }), '77102', 'subType');
    expectError(await svc.call('GET', '/api/v1/config'), '77102', 'type');
    expectError(await svc.call('GET', '/api/v1/config?type=OTHER'), '77102', 'type');
    expect((await svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME')).body.value).toBe('180');

    expectError(await svc.call('GET', '/api/v1/send-block'), '77102', 'targetAddress');
    expectError(await svc.call('GET', '/api/v1/send-block?targetAddress='), '77102', 'targetAddress');
    expectError(await history('not-an-address'), '77102', 'targetAddress');
    expectError(await history('bounce@example.com', undefined, '&sort=address'), '77102', 'sort');
    expectError(await history('bounce@example.com', undefined, '&size=0'), '77102', 'size');
  });

  it('an entry past its time no longer blocks, and leaves as D / SYSTEM dated when it ran out', async () => {
    // As if SEND_BLOCK_TIME had been a moment: it ran out right after it was created.
    const ranOut = await sql<{ t: Date }>`
      UPDATE send_blocks SET blocked_until = created_at + interval '1 millisecond' WHERE address_key = 'bounce@example.com' RETURNING blocked_until AS t
    `
      .execute(svc.db.db)
      .then((r) => r.rows[0]!.t);
    expect(ranOut.getTime()).toBeLessThan(Date.now());
    rcptRule([]);
    const rcptBefore = rcpts.get('bounce@example.com') ?? 0;
    const sent = await send({ recipients: [{ address: 'bounce@example.com' }] });
    expect(sent.status).toBe('S');
    expect(rcpts.get('bounce@example.com')).toBe(rcptBefore + 1);

    const res = await history('bounce@example.com');
    expect(res.body).toMatchObject({ registerStatus: 'Not blocked', expectedDeleteDate: null, totalElements: 2 });
    expect(
      res.body.content.map((h: { actionType: { code: string }; actionRequesterType: { code: string } }) => [h.actionType.code, h.actionRequesterType.code]),
    ).toEqual([
      ['D', 'SYSTEM'],
      ['C', 'CUSTOMER'],
    ]);
    expect(res.body.content[0]).toMatchObject({ requestDate: { utc: ranOut.getTime() }, sendResultCode: null, sendResultMessage: null });
    const asc = await history('bounce@example.com', undefined, '&sort=createUtc,asc');
    expect(asc.body.content[0].actionType.code).toBe('C');
  });

  it('a new bounce after expiry closes the old entry (D) and opens a new one (C)', async () => {
    await sql`UPDATE send_blocks SET blocked_until = created_at + interval '1 millisecond' WHERE address_key = 'bounce2@example.com'`.execute(svc.db.db);
    rcptRule(['bounce2@example.com']);
    const sent = await send({ recipients: [{ address: 'bounce2@example.com' }] });
    expect(sent.by('bounce2@example.com').result_code).toBe('RECIPIENT_ADDRESS_ERROR');
    const res = await history('bounce2@example.com');
    expect(res.body.registerStatus).toBe('Blocked');
    expect(res.body.content.map((h: { actionType: { code: string } }) => h.actionType.code)).toEqual(['C', 'D', 'C']);
  });

  it('the periodic sweep removes every lapsed entry with its D row', async () => {
    await sql`UPDATE send_blocks SET blocked_until = created_at + interval '1 millisecond'`.execute(svc.db.db);
    expect(await expireSendBlocks({ db: svc.db.db, now: () => new Date() })).toBe(1);
    expect(await svc.db.db.selectFrom('send_blocks').selectAll().execute()).toEqual([]);
    expect(await expireSendBlocks({ db: svc.db.db, now: () => new Date() })).toBe(0);
    const res = await history('bounce2@example.com');
    expect(res.body.content[0]).toMatchObject({ actionType: { code: 'D' }, actionRequesterType: { code: 'SYSTEM' } });
    expect(res.body.registerStatus).toBe('Not blocked');
  });
});
