import { describe, expect, it } from '@jest/globals';
import type { Logger } from '../../src/logger.ts';
import { createRelayHealth } from '../../src/modules/delivery/relay-health.ts';
import { requestContext } from '../helpers/request-context.ts';
import type { MailOutcome } from '../../src/modules/delivery/result-recorder.ts';
import { createBatchSender } from '../../src/modules/delivery/send-batch.ts';
import type { MailTransport } from '../../src/modules/delivery/transport.ts';
import type { Db } from '../../src/db/schema.ts';
import type { DeliveryRecipientRow } from '../../src/modules/delivery/delivery.repository.ts';
import { createLimiter } from '../../src/shared/limiter.ts';

// A fake transport, throttle and recorder (unit test): what is checked is the order sendBatch
// takes and gives back a domain's transaction slot in, against the recording of the mail.
describe('sendBatch', () => {
  it("gives a mail's domain transaction slot to the next mail once its transaction ended, before its result is recorded", async () => {
    const order: string[] = [];
    const transport: MailTransport = {
      sendMail: async (m) => {
        order.push(`sent ${String((m.envelope as { to: string[] }).to[0])}`);
        return { response: '250 ok', accepted: [], rejected: [] } as never;
      },
      verify: async () => true,
      close: () => {},
    };
    const logger = { warn: () => {}, info: () => {} } as unknown as Logger;
    const sendBatch = createBatchSender(
      { db: {} as Db, transport, now: () => new Date() },
      { retry: { retryLimit: 3, baseDelayMs: 1000 }, unsubscribe: { key: Buffer.alloc(32), baseUrl: 'http://localhost', lang: 'en' } as never, bounce: null },
      createRelayHealth(logger),
    );
    const ctx = requestContext();
    const row = (mail: string, address: string) =>
      ({ id: mail, mail_id: mail, address, name: null, type: 'R', parameters: null, status: 'R', retry_count: 0 }) as unknown as DeliveryRecipientRow;
    // the domain has one transaction slot in this batch
    const domainSlot = createLimiter(1);
    const { promise: firstRecorded, resolve: recorded } = Promise.withResolvers<void>();
    const done = sendBatch(
      ctx,
      [
        { id: '1', seq: 1, request_id: '1', created_at: new Date(), part: 1 },
        { id: '2', seq: 2, request_id: '1', created_at: new Date(), part: 1 },
      ],
      {
        recipientsOf: new Map([
          ['1', [row('1', 'a@one.example')]],
          ['2', [row('2', 'b@one.example')]],
        ]),
        blocked: new Set(),
        domainBlocked: new Map(),
        unsubscribed: new Map(),
        slot: createLimiter(14),
        transportSlot: createLimiter(4),
        turnOf: new Map([
          ['1', 0],
          ['2', 1],
        ]),
        isCancelled: () => false,
        isOver: () => false,
        release: () => {},
        hold: () => {},
        deferred: new Map(),
        throttle: { withSlots: (_id, fn, priority) => domainSlot(fn, priority), heldUntil: () => undefined, report: () => {} },
        record: async (o: MailOutcome) => {
          order.push(`recording ${o.mailId}`);
          if (o.mailId === '1') await firstRecorded;
          order.push(`recorded ${o.mailId}`);
        },
      },
    );
    for (let i = 0; i < 50 && !order.includes('recorded 2'); i++) await new Promise((r) => setTimeout(r, 5));
    // mail 2 went out while mail 1 was still being recorded
    expect(order).toEqual(['sent a@one.example', 'recording 1', 'sent b@one.example', 'recording 2', 'recorded 2']);
    recorded();
    await done;
    expect(order.at(-1)).toBe('recorded 1');
  });
});
