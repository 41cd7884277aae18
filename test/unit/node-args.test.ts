import fs from 'node:fs';
import { expect, it } from '@jest/globals';
import { SERVICE_NODE_ARGS } from '../../src/node-args.ts';

// The service's memory bound depends on these flags; every way of starting it must pass them.
it('npm start and the Docker image run the service with SERVICE_NODE_ARGS', () => {
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  expect(pkg.scripts.start).toBe(`node ${SERVICE_NODE_ARGS.join(' ')} src/main.ts`);
  const cmd = fs.readFileSync('Dockerfile', 'utf8').split('\n').find((l) => l.startsWith('CMD '));
  expect(cmd).toBe(`CMD ${JSON.stringify(['node', ...SERVICE_NODE_ARGS, 'src/main.ts']).replaceAll(',', ', ')}`);
});
