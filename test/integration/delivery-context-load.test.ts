import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// A request's context (sender, content, signing key, attachments) is loaded once per request, so
// for 1-recipient traffic each of its statements is one more per request: the request with its
// signing key and whether files are attached come in one statement, the attachments' rows in a
// second only when there are some. A batch's block lists (send-block, blocked domains, and the
// unsubscribe lists of its advertising mails) are one statement too. Counted at the pg client, as every statement goes through it.

const { svc, sink } = useTestService({ resetSinkAfterEach: true });

let texts: string[] = [];
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
beforeEach(() => {
  texts = [];
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const c = args[0] as string | { text?: string };
    texts.push(typeof c === 'string' ? c : (c?.text ?? ''));
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
});
afterEach(() => {
  pg.Client.prototype.query = query as typeof pg.Client.prototype.query;
});

/** statements that read a request's signing key or its files (the POST's insert of its files is not one) */
const contextReads = () => texts.filter((t) => /dkim_keys|request_files/.test(t) && !/^\s*insert/i.test(t));

async function send(attachFileIds?: string[]) {
  const before = sink.messages.length;
  const res = await svc.call('POST', '/api/v1/mails', {
    body: { senderAddress: 'no_reply@company.com', title: 'hi', body: '<p>hi</p>', recipients: [{ address: 'r@example.com' }], attachFileIds },
  });
  expect(res.status).toBe(201);
  await waitFor(async () => sink.messages.length > before, 15_000, 'the mail at the sink');
  return sink.messages.at(-1)!;
}

describe('loading a request to send it', () => {
  it('reads the request, its signing key and whether it has files in one statement', async () => {
    await send();
    const reads = contextReads();
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatch(/FROM mail_requests r[\s\S]*dkim_keys/);
  });

  it('reads the attachments in a second statement when the request has some, and sends them', async () => {
    const upload = await svc.call('POST', '/api/v1/files').attach('fileList', Buffer.from('attached text'), 'a.txt');
    expect(upload.status).toBe(201);
    texts = [];
    const mail = await send([upload.body.files[0].fileId]);
    const reads = contextReads();
    expect(reads).toHaveLength(2);
    expect(reads[0]).toMatch(/FROM mail_requests r[\s\S]*dkim_keys/);
    expect(reads[1]).toMatch(/request_files/);
    expect(reads[1]).not.toMatch(/dkim_keys/);
    expect(mail.raw.toString('latin1')).toMatch(/filename=a\.txt/);
    expect(mail.raw.toString('latin1')).toContain(Buffer.from('attached text').toString('base64'));
  });

  it('asks the send-block list and the blocked domains in one statement, and skips what either lists', async () => {
    await svc.db.db.insertInto('blocked_domains').values({ project_id: svc.key.projectId, domain: 'blocked.example', created_at: new Date() }).execute();
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'no_reply@company.com',
        title: 'hi',
        body: '<p>hi</p>',
        individual: true,
        recipients: [{ address: 'ok@example.com' }, { address: 'someone@mail.blocked.example' }],
      },
    });
    expect(res.status).toBe(201);
    await waitFor(async () => sink.messages.length >= 1, 15_000, 'the mail at the sink');
    const lists = texts.filter((t) => /send_blocks|blocked_domains/.test(t) && !/^\s*insert/i.test(t));
    expect(lists).toHaveLength(1);
    expect(lists[0]).toMatch(/send_blocks[\s\S]*UNION ALL[\s\S]*blocked_domains/);
    const blocked = await waitFor(async () =>
      (await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`)).body.content?.find(
        (m: { emailStatus: { code: string }; recipients?: unknown }) => m.emailStatus.code === 'F',
      ),
    );
    expect(blocked).toBeTruthy();
    expect(sink.messages.map((m) => m.to)).not.toContainEqual(expect.arrayContaining(['someone@mail.blocked.example']));
  });

  it("asks an advertising mail's unsubscribe list in the same statement, and skips who is on it (U)", async () => {
    await svc.db.db
      .insertInto('unsubscribers')
      .values([
        { project_id: svc.key.projectId, address: 'Gone@Example.com', reg_by_manager: true, created_at: new Date() },
        // JavaScript lower-cases U+0130 to two characters, PostgreSQL's lower() to one: compared on PostgreSQL's side
        { project_id: svc.key.projectId, address: 'İnfo@example.com', reg_by_manager: true, created_at: new Date() },
      ])
      .execute();
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'no_reply@company.com',
        title: 'sale',
        body: '<p>sale</p>',
        advertising: true,
        individual: true,
        recipients: [{ address: 'stays@example.com' }, { address: 'gone@example.com' }, { address: 'İnfo@example.com' }],
      },
    });
    expect(res.status).toBe(201);
    const statuses = await waitFor(async () => {
      const page = (await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`)).body.content as
        | { emailStatus: { code: string } }[]
        | undefined;
      const codes = (page ?? []).map((m) => m.emailStatus.code).sort();
      return codes.length === 3 && !codes.some((c) => c === 'R' || c === 'I') ? codes : undefined;
    });
    expect(statuses).toEqual(['S', 'U', 'U']);
    const lists = texts.filter((t) => /send_blocks|blocked_domains|unsubscribers/.test(t) && !/^\s*insert/i.test(t));
    expect(lists).toHaveLength(1);
    expect(lists[0]).toMatch(/send_blocks[\s\S]*UNION ALL[\s\S]*unsubscribers/);
    expect(sink.messages.flatMap((m) => m.to)).toEqual(['stays@example.com']);
  });
});
