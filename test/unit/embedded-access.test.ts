import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { embeddedAsRootProblem, folderOthersCannotEnter } from '../../src/db/embedded-access.ts';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-access-'));
fs.chmodSync(base, 0o755);
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

function folder(name: string, mode: number): string {
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, mode);
  return dir;
}

describe('folderOthersCannotEnter', () => {
  it('finds the first folder above the target that other users cannot enter', () => {
    const open = folder('open', 0o755);
    const closed = folder('open/private', 0o700);
    fs.mkdirSync(path.join(closed, 'app/node_modules'), { recursive: true });
    expect(folderOthersCannotEnter(path.join(open, 'x/y'))).toBeUndefined();
    expect(folderOthersCannotEnter(path.join(closed, 'app/node_modules'))).toBe(closed);
    // a folder not created yet below an enterable one is fine: it is created 0755
    expect(folderOthersCannotEnter(path.join(open, 'not-yet/pg'))).toBeUndefined();
  });

  it('says in one line what blocks the embedded PostgreSQL and what to do', () => {
    const closed = folder('root-home', 0o700);
    const problem = embeddedAsRootProblem({ binaries: path.join(closed, 'app/node_modules/bin'), dataDir: path.join(base, 'data') });
    expect(problem).toContain(`can't enter ${closed} to reach its programs`);
    expect(problem).toContain('set DATABASE_URL');
    expect(problem).not.toContain('\n');
    expect(embeddedAsRootProblem({ binaries: path.join(base, 'bin'), dataDir: path.join(closed, 'data') })).toContain('to reach the data folder');
    expect(embeddedAsRootProblem({ binaries: path.join(base, 'bin'), dataDir: path.join(base, 'data') })).toBeUndefined();
  });
});
