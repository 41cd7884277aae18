import { describe, expect, it } from '@jest/globals';
import { signRequest } from '../../src/http/signature.ts';
// The module the /docs page loads in the browser, run here on Node 24's Web Crypto.
// @ts-expect-error plain JavaScript served as is; no type declarations
import * as browser from '../../src/http/docs/sign-request.js';

const cases = [
  {
    secret: 'secretKey-0123456789',
    method: 'POST',
    target: '/api/v1/mails',
    timestamp: '1521787414578',
    accessKey: '6uxz1nKkcYwUjWRG5Q1V7NsW0i5jErlu2NjBXXgy',
  },
  { secret: 'ключ 비밀 秘密', method: 'get', target: '/api/v1/mails/requests?startDateTime=2025-01-01&size=5', timestamp: '1700000000000', accessKey: 'AK' },
  { secret: 's', method: 'DELETE', target: '/api/v1/address-book/recipient-groups?groupName=%EB%8C%80', timestamp: '1', accessKey: 'k' },
];

describe('the /docs page signs as the server verifies (src/http/signature.ts)', () => {
  it.each(cases)('$method $target', async (c) => {
    expect(browser.canSign()).toBe(true);
    expect(await browser.signRequest(c.secret, c.method, c.target, c.timestamp, c.accessKey)).toBe(
      signRequest(c.secret, c.method, c.target, c.timestamp, c.accessKey),
    );
  });

  it('signs the target as the browser sends it (percent-encoded, no host) and sets the three headers', async () => {
    expect(browser.requestTarget('http://localhost:8080/api/v1/address-book/combination?groups=대&groups=vip')).toBe(
      '/api/v1/address-book/combination?groups=%EB%8C%80&groups=vip',
    );
    const headers = await browser.signatureHeaders({
      accessKey: 'AK',
      secretKey: 'SK',
      method: 'GET',
      url: '/api/v1/mails/requests?size=5',
      base: 'http://localhost:8080',
      now: 1700000000000,
    });
    expect(headers).toEqual({
      'x-ncp-apigw-timestamp': '1700000000000',
      'x-ncp-iam-access-key': 'AK',
      'x-ncp-apigw-signature-v2': signRequest('SK', 'GET', '/api/v1/mails/requests?size=5', '1700000000000', 'AK'),
    });
  });
});
