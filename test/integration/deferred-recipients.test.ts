import { describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * A large createMailRequest (over 2,000 recipients and 256 KB) keeps its recipients as bytes
 * until they are stored (http/large-json.ts, requests.router.ts): the OpenAPI validator sees the
 * body without them, so each is checked as it is parsed. Whatever the path, a recipient is
 * refused with the same answer and stored the same way.
 */

const { svc } = useTestService();

const MAILS = '/api/v1/mails';
const N = 2_600;
/** a request-level value that takes the body over the large-body threshold (256 KB) */
const PAD = 'x'.repeat(300_000);

const recipientsText = (bad: string | undefined, at: number, prefix: string) =>
  Array.from({ length: N }, (_, i) =>
    i === at && bad !== undefined ? bad : JSON.stringify({ address: `${prefix}${i}@example.com`, name: `R ${i}`, parameters: { CODE: i } }),
  ).join(',');

/** A raw JSON POST /mails: `large` adds the padding that makes the service defer its recipients. */
function post(recipients: string, large: boolean, headers: Record<string, string> = {}) {
  const text = `{"senderAddress":"s@example.com","title":"Code \${CODE}","body":"<p>hi</p>","confirmAndSend":true,${
    large ? `"parameters":{"PAD":"${PAD}"},` : ''
  }"recipients":[${recipients}]}`;
  expect(Buffer.byteLength(text) > 256 * 1024).toBe(large);
  return svc.call('POST', MAILS, { headers: { 'content-type': 'application/json', ...headers }, body: text });
}

describe('a large request refuses a bad recipient exactly as a small one does', () => {
  const cases: [string, string][] = [
    ['a name over 69 characters', JSON.stringify({ address: 'a@example.com', name: 'n'.repeat(70) })],
    ['a type outside R, C, B', JSON.stringify({ address: 'a@example.com', type: 'X' })],
    ['no address', JSON.stringify({ name: 'nobody' })],
    ['an address that is a number', JSON.stringify({ address: 12 })],
    ['a parameter that is an object', JSON.stringify({ address: 'a@example.com', parameters: { CODE: { deep: 1 } } })],
    ['an element that is not an object', '"a@example.com"'],
    ['an invalid address', JSON.stringify({ address: 'not-an-address' })],
    ['a NUL in the name', JSON.stringify({ address: 'a@example.com', name: 'a\u0000b' })],
    ['a lone surrogate in a parameter', '{"address":"a@example.com","parameters":{"CODE":"\\ud800"}}'],
    ['broken JSON inside the element', '{"address":"a@example.com","name":tru}'],
    ['a parameter nested 10,000 deep', `{"address":"a@example.com","parameters":{"CODE":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`],
    ['a NUL in a parameter name', '{"address":"a@example.com","parameters":{"\\u0000":"x"}}'],
  ];
  it.each(cases)('%s', async (_what, bad) => {
    const at = 2_345;
    const small = await post(recipientsText(bad, at, 'small'), false);
    const large = await post(recipientsText(bad, at, 'large'), true);
    expect(small.status).toBe(400);
    expect({ status: large.status, body: large.body }).toEqual({ status: small.status, body: small.body });
  });

  it('leaves no request behind when the last recipient is refused', async () => {
    const res = await post(recipientsText(JSON.stringify({ address: 'bad' }), N - 1, 'last'), true);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(`recipients[${N - 1}].address`);
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_requests`.execute(svc.db.db);
    expect(rows.rows[0]!.n).toBe(0);
  });
});

describe('hostile large requests', () => {
  it('refuses 100,001 recipients with the limit named', async () => {
    const many = Array.from({ length: 100_001 }, () => '{}').join(',');
    const res = await post(many, true);
    expect({ status: res.status, message: res.body.error?.message }).toEqual({ status: 400, message: 'recipients: at most 100000 recipients per request' });
  });

  it('takes a large request once under one Idempotency-Key, and answers the replay with the same id', async () => {
    const headers = { 'Idempotency-Key': 'large-once' };
    const first = await post(recipientsText(undefined, -1, 'idem'), true, headers);
    const again = await post(recipientsText(undefined, -1, 'idem'), true, headers);
    expect({ status: first.status, count: first.body.count }).toEqual({ status: 201, count: N });
    expect(again.body).toEqual(first.body);
    const other = await post(recipientsText(undefined, -1, 'other'), true, headers);
    expect(other.status).toBe(409);
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_requests WHERE idempotency_key = 'large-once'`.execute(svc.db.db);
    expect(rows.rows[0]!.n).toBe(1);
  });
});

describe('a large request stores its recipients as a small one would', () => {
  it('stores every recipient with its name, type and parameters as strings', async () => {
    const extra = [
      JSON.stringify({ address: ' spaced@example.com ', name: '', type: null, parameters: { CODE: true } }),
      JSON.stringify({ address: 'cc@example.com', type: 'C', parameters: null }),
    ];
    const res = await post(`${recipientsText(undefined, -1, 'ok')},${extra.join(',')}`, true);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 201, error: undefined });
    expect(res.body.count).toBe(N + 2);
    const id = String(BigInt((res.body.requestId as string).slice(8)));
    // stored by the job (P), then waiting for confirmation (R)
    const rows = await waitForRows(id, N + 2);
    expect(rows[0]).toEqual({ address: 'ok0@example.com', name: 'R 0', type: 'R', parameters: { CODE: '0' } });
    expect(rows[1_234]).toEqual({ address: 'ok1234@example.com', name: 'R 1234', type: 'R', parameters: { CODE: '1234' } });
    expect(rows[N]).toEqual({ address: 'spaced@example.com', name: null, type: 'R', parameters: { CODE: 'true' } });
    expect(rows[N + 1]).toEqual({ address: 'cc@example.com', name: null, type: 'C', parameters: null });
  });
});

async function waitForRows(requestId: string, n: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await sql<{ address: string; name: string | null; type: string; parameters: unknown }>`
      SELECT r.address, r.name, r.type, r.parameters FROM recipients r JOIN mails m ON m.id = r.mail_id
      WHERE r.request_id = ${requestId} ORDER BY m.seq, r.id
    `.execute(svc.db.db);
    if (res.rows.length === n) return res.rows;
    if (Date.now() > deadline) throw new Error(`${res.rows.length} of ${n} recipients stored after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
