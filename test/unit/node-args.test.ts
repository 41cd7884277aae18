import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { expect, it } from '@jest/globals';
import { DEFAULT_MAX_HEAP_MB, SERVICE_MALLOC_ENV, SERVICE_NODE_ARGS, serviceEnv, serviceNodeArgs } from '../../src/node-args.ts';

// The service's memory bound depends on these flags; every way of starting it must pass them.
it('npm start and the Docker image run the service through src/start.ts, which passes serviceNodeArgs', () => {
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  expect(pkg.scripts.start).toBe('node src/start.ts');
  const cmd = fs
    .readFileSync('Dockerfile', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('CMD '));
  expect(cmd).toBe('CMD ["node", "src/start.ts"]');
  expect(fs.readFileSync('src/start.ts', 'utf8')).toMatch(/serviceNodeArgs\(process\.env\)/);
  expect(SERVICE_NODE_ARGS).toEqual([`--max-old-space-size=${DEFAULT_MAX_HEAP_MB}`, '--max-semi-space-size=8']);
  expect(fs.readFileSync('src/start.ts', 'utf8')).toMatch(/env: serviceEnv\(process\.env\)/);
});

it('the service runs with the malloc settings unless the environment sets its own', () => {
  expect(serviceEnv({ PORT: '1' })).toEqual({ PORT: '1', ...SERVICE_MALLOC_ENV });
  expect(serviceEnv({ MALLOC_ARENA_MAX: '4' })).toEqual({ ...SERVICE_MALLOC_ENV, MALLOC_ARENA_MAX: '4' });
});

it('MAX_HEAP_MB sets the heap limit; a bad value is refused naming the variable', () => {
  expect(serviceNodeArgs({ MAX_HEAP_MB: '512' })).toEqual(['--max-old-space-size=512', '--max-semi-space-size=8']);
  expect(serviceNodeArgs({ MAX_HEAP_MB: '' })).toEqual(SERVICE_NODE_ARGS);
  expect(() => serviceNodeArgs({ MAX_HEAP_MB: '1g' })).toThrow(/MAX_HEAP_MB/);
  expect(() => serviceNodeArgs({ MAX_HEAP_MB: '16' })).toThrow(/MAX_HEAP_MB/);
});

it('src/start.ts refuses a bad MAX_HEAP_MB in one line and exits 1', () => {
  const res = spawnSync(process.execPath, ['src/start.ts'], {
    env: { ...process.env, MAX_HEAP_MB: 'lots', NODE_NO_WARNINGS: '1' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(res.status).toBe(1);
  expect(res.stderr.trim()).toBe('configuration error: MAX_HEAP_MB must be a whole number of megabytes between 64 and 65536, got "lots"');
});

it("src/start.ts passes the service's exit code and output through", () => {
  const res = spawnSync(process.execPath, ['src/start.ts'], {
    env: { ...process.env, PORT: 'eighty', NODE_NO_WARNINGS: '1' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(res.status).toBe(1);
  expect(res.stderr).toContain('PORT');
});
