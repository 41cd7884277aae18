// `npm test`: the whole suite (unit + integration + browser) under jest in ESM mode, on Node 24.
import { spawnSync } from 'node:child_process';

// The browser tests drive the built console: build it first when a source changed (about a second).
const build = spawnSync(process.execPath, ['scripts/build-console.ts', '--if-stale'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

// --forceExit: a test that times out can leave a connection or timer behind, and jest would then
// wait for it forever after printing its results (a CI run once hung that way until its limit).
const args = ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--forceExit', ...process.argv.slice(2)];
const res = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, NODE_NO_WARNINGS: '1' } });
process.exit(res.status ?? 1);
