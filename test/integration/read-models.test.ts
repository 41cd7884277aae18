import { beforeAll, describe, expect, it } from '@jest/globals';
import type { RawQuery } from '../../src/http/query-params.ts';
import { parseMailListQuery, parseRecipientListQuery, parseRequestListQuery } from '../../src/modules/mails/list-query.ts';
import type { ViewOptions } from '../../src/modules/mails/mails.mapper.ts';
import { getMailList } from '../../src/modules/mails/mails.read-model.ts';
import { getMailRequestList } from '../../src/modules/mails/request-list.read-model.ts';
import { getMailRequestStatus } from '../../src/modules/mails/request-status.read-model.ts';
import { getRecipientList, iterateRecipientRows } from '../../src/modules/mails/recipients.read-model.ts';
import { seedProject, seedRequest, type SeededRequest } from '../helpers/seed-rows.ts';
import { useTestDb } from '../helpers/use-test-service.ts';

/**
 * The mails and recipients read models called directly on seeded rows: which rows they answer,
 * in which order, with which counts, and never another project's. The HTTP views (views,
 * recipient-view) check the same on real sends; here a wrong row set fails without a service.
 */

const TZ = 'Asia/Seoul';
const VIEW: ViewOptions = { lang: 'en', timeZone: TZ };
const HOUR = 3600_000;
const db = useTestDb();
let project: string;
let other: string;
/** older: kim sent, lee failed (PF) */
let alpha: SeededRequest;
/** newer: park sent */
let beta: SeededRequest;
/** another project's, to the same kim */
let foreign: SeededRequest;

const opts = () => ({ timeZone: TZ, now: new Date() });
const requests = (query: RawQuery = {}, projectId = project) => getMailRequestList(db.db, projectId, parseRequestListQuery(query, opts()), VIEW);
const recipients = (query: RawQuery = {}, projectId = project) => getRecipientList(db.db, projectId, parseRecipientListQuery(query, opts()), VIEW);

beforeAll(async () => {
  project = await seedProject(db.db, 'views');
  other = await seedProject(db.db, 'views-other');
  const now = Date.now();
  alpha = await seedRequest(db.db, {
    projectId: project,
    status: 'PF',
    createdAt: new Date(now - 3 * HOUR),
    senderAddress: 'alpha@company.com',
    title: 'Alpha',
    recipients: [{ address: 'kim@example.com' }, { address: 'lee@example.com', status: 'F', resultCode: 'MAILBOX_ERROR' }],
  });
  beta = await seedRequest(db.db, {
    projectId: project,
    status: 'S',
    createdAt: new Date(now - 2 * HOUR),
    senderAddress: 'beta@company.com',
    title: 'Beta',
    recipients: [{ address: 'park@example.com' }],
  });
  foreign = await seedRequest(db.db, { projectId: other, status: 'S', createdAt: new Date(now - HOUR), recipients: [{ address: 'kim@example.com' }] });
});

describe('getMailRequestList', () => {
  it("answers the project's requests newest first with their statuses and counts, not another project's", async () => {
    const page = await requests();
    expect(
      page.content.map((r) => ({ id: r.requestId, status: r.emailStatus.code, sender: r.senderAddress, title: r.title, count: r.recipientCount })),
    ).toEqual([
      { id: beta.requestId, status: 'S', sender: 'beta@company.com', title: 'Beta', count: 1 },
      { id: alpha.requestId, status: 'PF', sender: 'alpha@company.com', title: 'Alpha', count: 2 },
    ]);
    expect(page.totalElements).toBe(2);
    expect((await requests({}, other)).content.map((r) => r.requestId)).toEqual([foreign.requestId]);
  });

  it('filters by status and sender, and pages', async () => {
    expect((await requests({ sendStatus: 'PF' })).content.map((r) => r.requestId)).toEqual([alpha.requestId]);
    expect((await requests({ senderAddress: 'beta@company.com' })).content.map((r) => r.requestId)).toEqual([beta.requestId]);
    const second = await requests({ size: '1', page: '1' });
    expect({ ids: second.content.map((r) => r.requestId), total: second.totalElements, last: second.last }).toEqual({
      ids: [alpha.requestId],
      total: 2,
      last: true,
    });
  });
});

describe('getMailRequestStatus and getMailList', () => {
  it("counts a request's mails by status", async () => {
    expect(await getMailRequestStatus(db.db, project, alpha.requestId, VIEW)).toMatchObject({
      requestId: alpha.requestId,
      readyCompleted: true,
      allSentSuccess: false,
      requestCount: 2,
      sentCount: 1,
      finishCount: 2,
    });
    expect(await getMailRequestStatus(db.db, project, beta.requestId, VIEW)).toMatchObject({
      allSentSuccess: true,
      requestCount: 1,
      sentCount: 1,
      finishCount: 1,
    });
  });

  it("lists a request's mails in order; another project's request is unknown (77103)", async () => {
    const page = await getMailList(db.db, project, alpha.requestId, parseMailListQuery({}, opts()), VIEW);
    expect(page.content.map((m) => ({ id: m.mailId, status: m.emailStatus.code, to: m.representativeRecipient }))).toEqual([
      { id: alpha.mailIds[0], status: 'S', to: 'kim@example.com' },
      { id: alpha.mailIds[1], status: 'F', to: 'lee@example.com' },
    ]);
    await expect(getMailList(db.db, project, foreign.requestId, parseMailListQuery({}, opts()), VIEW)).rejects.toMatchObject({ status: 400, code: '77103' });
    await expect(getMailRequestStatus(db.db, project, foreign.requestId, VIEW)).rejects.toMatchObject({ status: 400, code: '77103' });
  });
});

describe('getRecipientList and iterateRecipientRows', () => {
  it("answers the project's recipients, the newest request's first, with their results", async () => {
    const page = await recipients();
    expect(page.totalElements).toBe(3);
    expect(page.content[0]).toMatchObject({
      requestId: beta.requestId,
      mailId: beta.mailIds[0],
      address: 'park@example.com',
      emailStatus: { code: 'S' },
      sendResultCode: 'MAIL_SENT',
    });
    expect(
      page.content
        .slice(1)
        .map((r) => `${r.address} ${r.emailStatus.code} ${r.sendResultCode}`)
        .sort(),
    ).toEqual(['kim@example.com S MAIL_SENT', 'lee@example.com F MAILBOX_ERROR']);
    expect(page.content.every((r) => r.projectId === project)).toBe(true);
  });

  it('filters by status, result code and address, within the project only', async () => {
    expect((await recipients({ sendStatus: 'F' })).content.map((r) => r.address)).toEqual(['lee@example.com']);
    expect((await recipients({ sendResultCode: 'MAIL_SENT' })).content.map((r) => r.address).sort()).toEqual(['kim@example.com', 'park@example.com']);
    expect((await recipients({ recipientAddress: 'kim@example.com' })).content.map((r) => r.requestId)).toEqual([alpha.requestId]);
    expect((await recipients({ recipientAddress: 'kim@example.com' }, other)).content.map((r) => r.requestId)).toEqual([foreign.requestId]);
  });

  it('the export iterator answers the same rows in the same order, in keyset batches smaller than the set', async () => {
    const q = parseRecipientListQuery({}, opts());
    const rows = [];
    let batches = 0;
    for await (const batch of iterateRecipientRows(db.db, project, q.filters, VIEW, 2)) {
      batches++;
      rows.push(...batch);
    }
    expect(batches).toBe(2);
    expect(rows).toEqual((await recipients()).content);
  });
});
