import { createRequire } from 'node:module';

/**
 * express-openapi-validator 5.6 compiles every documented route with path-to-regexp on every
 * request to find the one it matches (upstream PR cdimascio/express-openapi-validator#1217, not
 * released): about 0.1-0.2 ms of each request here, for ~40 routes. Its copy of path-to-regexp
 * gets a memo of compiled routes: the same (path, options) always compiles to the same matcher,
 * the inputs are the spec's routes (a fixed, small set), and the matchers are not global regexps,
 * so sharing them is safe. Installed once, before the validator handles a request.
 */
interface PathToRegexpModule {
  pathToRegexp: (path: unknown, options?: Record<string, unknown>) => unknown;
}

const MAX_ENTRIES = 2_000;
let installed = false;

export function cacheOpenApiRouteMatchers(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const fromValidator = createRequire(require.resolve('express-openapi-validator'));
  const mod = fromValidator('path-to-regexp') as PathToRegexpModule;
  const compile = mod.pathToRegexp;
  const memo = new Map<string, unknown>();
  mod.pathToRegexp = (path, options) => {
    const keys = options ? Object.keys(options) : [];
    // Only the shape the validator uses: a string path with the two routing flags.
    if (typeof path !== 'string' || keys.some((k) => k !== 'sensitive' && k !== 'strict')) return compile(path, options);
    const key = `${options?.sensitive ? 1 : 0}${options?.strict ? 1 : 0}${path}`;
    let hit = memo.get(key);
    if (hit === undefined) {
      hit = compile(path, options);
      if (memo.size < MAX_ENTRIES) memo.set(key, hit);
    }
    return hit;
  };
}
