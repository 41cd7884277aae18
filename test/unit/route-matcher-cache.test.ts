import { createRequire } from 'node:module';
import { cacheOpenApiRouteMatchers } from '../../src/http/route-matcher-cache.ts';

const require = createRequire(import.meta.url);
const p2r = createRequire(require.resolve('express-openapi-validator'))('path-to-regexp') as {
  pathToRegexp: (path: string, options?: Record<string, unknown>) => { regexp: RegExp; keys: { name: string }[] };
};

describe('route matchers of the OpenAPI validator', () => {
  it('compiles a route once and matches as before', () => {
    cacheOpenApiRouteMatchers();
    const a = p2r.pathToRegexp('/api/v1/mails/requests/:requestId', { sensitive: false, strict: false });
    const b = p2r.pathToRegexp('/api/v1/mails/requests/:requestId', { sensitive: false, strict: false });
    expect(b).toBe(a);
    expect(a.regexp.exec('/api/v1/mails/requests/20261203000001')?.[1]).toBe('20261203000001');
    expect(a.keys.map((k) => k.name)).toEqual(['requestId']);
    // other flags, another matcher
    const sensitive = p2r.pathToRegexp('/api/v1/mails/requests/:requestId', { sensitive: true, strict: false });
    expect(sensitive).not.toBe(a);
    expect(sensitive.regexp.exec('/API/v1/mails/requests/1')).toBeNull();
  });
});
