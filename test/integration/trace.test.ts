import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import pino from 'pino';
import supertest from 'supertest';
import { traceRequests } from '../../src/http/trace.ts';

/** Log lines name the full path (never the query) and carry the caller's request id when it sent one. */

function appWithLogs() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  const app = express();
  app.use(traceRequests(pino({ level: 'info' }, stream)));
  const api = express.Router();
  api.get('/mails/requests', (_req, res) => void res.json({}));
  app.use('/api/v1', api);
  app.get('/unsubscribe/:token', (_req, res) => void res.send('ok'));
  return { app, lines };
}

describe('request log lines', () => {
  it('carry the path as sent, with the mount point and without the query', async () => {
    const { app, lines } = appWithLogs();
    await supertest(app).get('/api/v1/mails/requests?recipientAddress=kim%40example.com&size=5').expect(200);
    await supertest(app).get('/unsubscribe/SECRET-TOKEN-123?x=1').expect(200);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.map((l) => l.path)).toEqual(['/api/v1/mails/requests', '/unsubscribe/{token}']);
    expect(JSON.stringify(lines)).not.toMatch(/kim|SECRET-TOKEN|size=5/);
  });

  it('keep a well-formed x-ncp-trace-id or x-request-id, echoed back; anything else gets a new id', async () => {
    const { app, lines } = appWithLogs();
    let res = await supertest(app).get('/api/v1/mails/requests').set('x-request-id', 'lb-7f3a9c21-4e5d-4b8a');
    expect(res.headers['x-ncp-trace-id']).toBe('lb-7f3a9c21-4e5d-4b8a');
    expect(res.headers['x-request-id']).toBe('lb-7f3a9c21-4e5d-4b8a');
    expect(lines.at(-1)!.traceId).toBe('lb-7f3a9c21-4e5d-4b8a');

    res = await supertest(app).get('/api/v1/mails/requests').set('x-ncp-trace-id', 'a1b2c3d4e5f6a7b8');
    expect(res.headers['x-ncp-trace-id']).toBe('a1b2c3d4e5f6a7b8');
    expect(res.headers['x-request-id']).toBeUndefined();

    for (const bad of ['short', 'has space in it', 'x'.repeat(200), 'ok-id-but"quote', '-leading-dash-id']) {
      res = await supertest(app).get('/api/v1/mails/requests').set('x-request-id', bad);
      expect(res.headers['x-ncp-trace-id']).toMatch(/^[0-9a-f]{32}$/);
      expect(res.headers['x-request-id']).toBe(res.headers['x-ncp-trace-id']);
    }
  });
});
