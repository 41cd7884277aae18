// `npm test`: the whole suite (unit + integration) under jest in ESM mode, on Node 24.
import { spawnSync } from 'node:child_process';

const args = ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', ...process.argv.slice(2)];
const res = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, NODE_NO_WARNINGS: '1' } });
process.exit(res.status ?? 1);
