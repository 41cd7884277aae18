// The keys CLI as a user runs it (issue 13 item 1): a child process on the same DATA_DIR as a
// running service on its embedded PostgreSQL (it must use that server, not start a second one on
// the same folder), with exit codes that say what happened and `--project=NAME` as well as
// `--project NAME`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signRequest } from '../../src/http/signature.ts';
import { freeDataDir } from '../../src/db/stale-postgres.ts';
import { runCli, type CliResult } from '../helpers/run-cli.ts';
import { startServiceProcess, stopAllServiceProcesses, TEST_MASTER_KEY, type ServiceProcess } from '../helpers/service-process.ts';

// Embedded Postgres runs as its own user when we are root: every parent must be searchable.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-keys-'));
fs.chmodSync(dataDir, 0o755);
let svc: ServiceProcess;

function keys(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli('src/modules/projects/keys-cli.ts', args, {
    ...process.env,
    DATA_DIR: dataDir,
    MASTER_KEY: TEST_MASTER_KEY,
    DATABASE_URL: '',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

async function signedGet(base: string, accessKey: string, secret: string, target: string): Promise<number> {
  const ts = String(Date.now());
  const res = await fetch(base + target, {
    headers: { 'x-ncp-apigw-timestamp': ts, 'x-ncp-iam-access-key': accessKey, 'x-ncp-apigw-signature-v2': signRequest(secret, 'GET', target, ts, accessKey) },
  });
  await res.arrayBuffer();
  return res.status;
}

const field = (out: string, name: string) => new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(out)?.[1];

beforeAll(async () => {
  svc = await startServiceProcess({ dataDir, smtpUrl: 'smtp://127.0.0.1:9', env: { MASTER_KEY: TEST_MASTER_KEY }, startTimeoutMs: 90_000 });
}, 120_000);

afterAll(async () => {
  await stopAllServiceProcesses();
  await freeDataDir(path.join(dataDir, 'pg')).catch(() => undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm run keys while the service runs on the embedded database', () => {
  it('creates a key the running service accepts at once (--project=NAME), lists it and revokes it', async () => {
    const created = await keys(['create', '--project=shop']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const accessKey = field(created.stdout, 'access key')!;
    const secret = field(created.stdout, 'secret key')!;
    expect(accessKey).toMatch(/^[\w-]{20}$/);
    expect(await signedGet(svc.baseUrl, accessKey, secret, '/api/v1/mails/requests')).toBe(200);

    const listed = await keys(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${accessKey}  project=shop .* active$`, 'm'));
    expect(listed.stdout).not.toContain(secret);

    const revoked = await keys(['revoke', accessKey]);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked ${accessKey}\n` });
    // Revocation reaches the running service at once (it listens for key changes).
    let status = 0;
    for (let i = 0; i < 50 && status !== 401; i++) {
      status = await signedGet(svc.baseUrl, accessKey, secret, '/api/v1/mails/requests');
      if (status !== 401) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    // the service kept running on its database the whole time
    expect((await svc.call('GET', '/api/v1/mails/requests')).status).toBe(200);
  }, 120_000);

  it('--project NAME works too', async () => {
    const created = await keys(['create', '--project', 'blog']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^project:\s+blog \(id \d+\)$/m);
  }, 60_000);

  it.each([
    [['revoke', 'NOPE'], 1, /no active key NOPE/],
    [['create'], 2, /create needs --project NAME/],
    [['create', '--project'], 2, /--project/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [[], 2, /a command is needed/],
    [['list', '--colour'], 2, /--colour/],
    [['revoke'], 2, /revoke needs ACCESS_KEY/],
  ] as [string[], number, RegExp][])(
    '%j exits %i with a message',
    async (args, code, message) => {
      const res = await keys(args);
      expect(res.code).toBe(code);
      expect(res.stderr).toMatch(message);
    },
    60_000,
  );
});
