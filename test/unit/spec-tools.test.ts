import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import YAML from 'yaml';
import { buildCollection, COLLECTION_PATH, PRE_REQUEST_SCRIPT } from '../../scripts/postman.ts';

const run = (script: string, ...args: string[]) =>
  spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' }, timeout: 60_000 });

const spec = YAML.parse(fs.readFileSync('openapi/openapi.yaml', 'utf8'));
const operations = Object.values<Record<string, { operationId?: string }>>(spec.paths).flatMap((p) => Object.values(p).filter((o) => o?.operationId));

describe('the Postman collection', () => {
  it('has one request per operation, variables baseUrl/accessKey/secretKey and a signing pre-request script', () => {
    const c = buildCollection(spec);
    expect(c.info.schema).toBe('https://schema.getpostman.com/json/collection/v2.1.0/collection.json');
    const requests = c.item.flatMap((f: { item: unknown[] }) => f.item);
    expect(requests).toHaveLength(operations.length);
    expect(c.variable.map((v: { key: string }) => v.key)).toEqual(['baseUrl', 'accessKey', 'secretKey']);
    expect(c.event[0].listen).toBe('prerequest');
    expect(PRE_REQUEST_SCRIPT.join('\n')).toContain('CryptoJS.HmacSHA256(message, secretKey)');
    const create = requests.find((r: { request: { description: string } }) => r.request.description.startsWith('createMailRequest'));
    expect(create.request.url.raw).toBe('{{baseUrl}}/api/v1/mails');
    expect(JSON.parse(create.request.body.raw)).toEqual(spec.paths['/mails'].post.requestBody.content['application/json'].example);
  });

  it('the pre-request script signs exactly as the server verifies', async () => {
    // Run the script in a stand-in for Postman's sandbox (pm + CryptoJS over node:crypto).
    const { signRequest } = await import('../../src/http/signature.ts');
    const crypto = await import('node:crypto');
    const headers: Record<string, string> = {};
    const vars: Record<string, string> = { accessKey: 'AK1', secretKey: 'SK1' };
    const pm = {
      variables: { get: (k: string) => vars[k], replaceIn: (s: string) => s.replace(':requestId', '20261203000000000001') },
      request: {
        method: 'get',
        url: { getPathWithQuery: () => '/api/v1/mails/requests/:requestId/status?x=%EB%8C%80' },
        headers: { upsert: (h: { key: string; value: string }) => (headers[h.key] = h.value) },
      },
    };
    const CryptoJS = {
      HmacSHA256: (m: string, k: string) => crypto.createHmac('sha256', k).update(m).digest(),
      enc: { Base64: { stringify: (b: Buffer) => b.toString('base64') } },
    };
    new Function('pm', 'CryptoJS', 'console', PRE_REQUEST_SCRIPT.join('\n'))(pm, CryptoJS, console);
    const target = '/api/v1/mails/requests/20261203000000000001/status?x=%EB%8C%80';
    expect(headers['x-ncp-apigw-signature-v2']).toBe(signRequest('SK1', 'GET', target, headers['x-ncp-apigw-timestamp']!, 'AK1'));
    expect(headers['x-ncp-iam-access-key']).toBe('AK1');
  });

  it('npm run postman:check passes on the committed file and fails on a stale one', () => {
    expect(run('scripts/postman.ts', '--check').status).toBe(0);
    const stale = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'postman-')), 'c.json');
    fs.writeFileSync(stale, fs.readFileSync(COLLECTION_PATH, 'utf8').replace('"createMailRequest', '"createMailRequestOld'));
    const res = run('scripts/postman.ts', '--check', '--file', stale);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('npm run postman');
    expect(run('scripts/postman.ts', '--check', '--file', path.join(path.dirname(stale), 'missing.json')).status).toBe(1);
  });
});

describe('spec lint (redocly.yaml)', () => {
  it('passes on the spec, and an operation without 429 is an error', () => {
    expect(run('scripts/lint-spec.ts').status).toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lint-'));
    const broken = path.join(dir, 'openapi.yaml');
    const text = fs.readFileSync('openapi/openapi.yaml', 'utf8');
    fs.writeFileSync(broken, text.replace("        '429':", "        '499':"));
    const res = run('scripts/lint-spec.ts', broken);
    expect(res.status).toBe(1);
    expect(res.stdout + res.stderr).toContain('every-operation-declares-429');
  });
});
