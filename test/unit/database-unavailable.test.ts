import { describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { errorHandler, isDatabaseUnavailable } from '../../src/http/error-handler.ts';

const withCode = (code: string) => Object.assign(new Error('x'), { code });

describe('a database that is down or out of connections', () => {
  it('is told apart from our own faults', () => {
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['ECONNREFUSED', '57P01', '57P03', '53300', '08006']) expect(isDatabaseUnavailable(withCode(code))).toBe(true);
    expect(isDatabaseUnavailable(withCode('23505'))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });

  it('answers 503 with Retry-After and the service error body; anything else stays 500', async () => {
    const app = express();
    app.get('/down', () => {
      throw new Error('timeout exceeded when trying to connect');
    });
    app.get('/bug', () => {
      throw new TypeError('x is undefined');
    });
    app.use(errorHandler());
    const down = await request(app).get('/down');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('5');
    expect(down.body.error).toMatchObject({ code: '77303', errorCode: '77303' });
    const bug = await request(app).get('/bug');
    expect(bug.status).toBe(500);
    expect(bug.headers['retry-after']).toBeUndefined();
  });
});
