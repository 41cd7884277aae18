// Fails when src/generated/api.ts is not what openapi-typescript makes of openapi/openapi.yaml.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gen-')), 'api.ts');
execFileSync(process.execPath, ['node_modules/openapi-typescript/bin/cli.js', 'openapi/openapi.yaml', '-o', tmp], { stdio: 'pipe' });
const fresh = fs.readFileSync(tmp, 'utf8');
const committed = fs.readFileSync('src/generated/api.ts', 'utf8');
if (fresh !== committed) {
  process.stderr.write('src/generated/api.ts is stale: run `npm run generate` and commit the result\n');
  process.exit(1);
}
process.stdout.write('generated types are up to date\n');
