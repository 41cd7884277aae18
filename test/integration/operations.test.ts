import fs from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import supertest from 'supertest';
import YAML from 'yaml';
import { API_SPEC_PATH } from '../../src/app.ts';
import type { Database } from '../../src/db/schema.ts';
import { createReadiness, healthRouter } from '../../src/http/operations.ts';
import { freePort } from '../../src/shared/free-port.ts';
import { startTestService, waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/** The unsigned operating surface: health, metrics, the spec and /docs. */

const { svc, sink } = useTestService();

describe('health', () => {
  it('/health/live, /health/ready and /health answer 200 unsigned when the database answers', async () => {
    const live = await supertest(svc.app).get('/health/live');
    expect(live.status).toBe(200);
    const ready = await supertest(svc.app).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok' });
    expect(ready.headers['cache-control']).toBe('no-store');
    expect((await supertest(svc.app).get('/health')).body).toEqual({ status: 'ok' });
  });

  it('/health/ready answers 503 while starting or draining, and when the database does not answer; live stays 200', async () => {
    const readiness = createReadiness();
    const app = express().use(healthRouter({ db: svc.db.db, readiness }));
    let res = await supertest(app).get('/health/ready');
    expect([res.status, res.body]).toEqual([503, { status: 'starting' }]);
    readiness.state = 'ready';
    expect((await supertest(app).get('/health/ready')).status).toBe(200);
    readiness.state = 'draining';
    res = await supertest(app).get('/health/ready');
    expect([res.status, res.body]).toEqual([503, { status: 'draining' }]);
    expect((await supertest(app).get('/health')).status).toBe(503);
    expect((await supertest(app).get('/health/live')).status).toBe(200);

    // Nothing listens on this port: the pool's connection fails at once.
    const pool = new pg.Pool({ connectionString: `postgres://nobody@127.0.0.1:${await freePort()}/none`, connectionTimeoutMillis: 500 });
    const deadDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      const down = express().use(healthRouter({ db: deadDb, readiness: createReadiness('ready') }));
      res = await supertest(down).get('/health/ready');
      expect([res.status, res.body]).toEqual([503, { status: 'database unavailable' }]);
      expect((await supertest(down).get('/health/live')).status).toBe(200);
    } finally {
      await deadDb.destroy();
    }
  });
});

describe('the contract and /docs', () => {
  it('GET /openapi.yaml and /openapi.json serve the spec unsigned', async () => {
    const yaml = await supertest(svc.app).get('/openapi.yaml');
    expect(yaml.status).toBe(200);
    expect(yaml.headers['content-type']).toBe('application/yaml; charset=utf-8');
    expect(yaml.text).toBe(fs.readFileSync(API_SPEC_PATH, 'utf8'));
    const json = await supertest(svc.app).get('/openapi.json');
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json.body).toEqual(YAML.parse(yaml.text));
    expect(json.body.paths['/mails'].post.operationId).toBe('createMailRequest');
  });

  it('GET /docs is an HTML page under a strict CSP, and every asset it loads is served from here', async () => {
    const page = await supertest(svc.app).get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const assets = [...page.text.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!).filter((u) => u.startsWith('/docs/'));
    expect(assets).toEqual(expect.arrayContaining(['/docs/swagger-ui/swagger-ui-bundle.js', '/docs/docs.js', '/docs/swagger-ui/swagger-ui.css']));
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const asset of [...assets, '/docs/sign-request.js']) {
      const res = await supertest(svc.app).get(asset);
      expect([asset, res.status]).toEqual([asset, 200]);
      const type = asset.endsWith('.js') ? /javascript/ : asset.endsWith('.css') ? /text\/css/ : /image\/png/;
      expect(res.headers['content-type']).toMatch(type);
    }
    expect((await supertest(svc.app).get('/docs/')).status).toBe(200);
    expect((await supertest(svc.app).get('/docs/nope.js')).status).toBe(404);
  });
});

describe('metrics', () => {
  it('GET /metrics: Prometheus text with HTTP latency by route template, recipient results, queue depth and job durations', async () => {
    // reserved a moment ahead: its start-reservation job runs, and its duration is measured
    const post = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'ops@example.com',
        title: 'metrics',
        body: '<p>hi</p>',
        // 3 s ahead: a POST reaching validation after the time would be refused as a past reservation
        reservationUtc: Date.now() + 3_000,
        recipients: [{ address: 'metrics@example.com', type: 'R' }],
      },
    });
    expect(post.status).toBe(201);
    await svc.call('GET', `/api/v1/mails/requests/${post.body.requestId}/status`).expect(200);
    await waitFor(async () => sink.messages.length > 0, 15_000, 'the mail');
    const text = await waitFor(
      async () => {
        const res = await supertest(svc.app).get('/metrics');
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
        const jobDone = /^mailer_job_duration_seconds_count\{queue="start-reservation",outcome="ok"\} [1-9]/m.test(res.text);
        return jobDone && /mailer_recipient_results_total\{result="sent",code="MAIL_SENT"\} [1-9]/.test(res.text) && res.text;
      },
      15_000,
      'the sent result and the finished job in /metrics',
    );
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^mailer_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/mails",status="201"\} 1$/m);
    // The route template, not the request's own id.
    expect(text).toMatch(/route="\/api\/v1\/mails\/requests\/:requestId\/status",status="200"/);
    expect(text).not.toContain(post.body.requestId);
    expect(text).toMatch(/^mailer_queue_due_mails \d+$/m);
    expect(text).toMatch(/^mailer_queue_oldest_due_age_seconds [\d.e+-]+$/m);
    expect(text).toMatch(/^mailer_smtp_sends_in_flight \d+$/m);
  });

  it('METRICS_ENABLED=false: no /metrics on the service port', async () => {
    const off = await startTestService({ smtpUrl: sink.url, workers: false, env: { METRICS_ENABLED: 'false' }, db: svc.db, box: svc.box, key: svc.key });
    try {
      expect((await supertest(off.app).get('/metrics')).status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});
