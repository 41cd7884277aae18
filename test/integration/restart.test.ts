// Restart after a hard crash (issue 11 item 4): the service runs its embedded PostgreSQL (no
// DATABASE_URL) as a child process; SIGKILL leaves that postmaster running with the data folder
// locked. A plain start on the same DATA_DIR must stop the orphan and serve; a second service on
// a folder that a live service uses must refuse with one plain line; a pid file of a dead
// process must not stop a start.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { EMBEDDED_SETTINGS } from '../../src/db/embedded.ts';
import { freeDataDir, inspectPostmaster } from '../../src/db/stale-postgres.ts';
import { SERVICE_MALLOC_ENV } from '../../src/node-args.ts';
import { startServiceProcess, stopAllServiceProcesses } from '../helpers/service-process.ts';

// Embedded Postgres runs as its own user when we are root: every parent must be searchable.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-restart-'));
fs.chmodSync(dataDir, 0o755);
const pgDir = path.join(dataDir, 'pg');
// Nothing is sent: the relay is never dialled.
const opts = { dataDir, smtpUrl: 'smtp://127.0.0.1:9', startTimeoutMs: 90_000 };

afterAll(async () => {
  await stopAllServiceProcesses();
  // A postmaster orphaned by a failed test must not outlive the run.
  await freeDataDir(pgDir).catch(() => undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('restart after a crash (embedded PostgreSQL)', () => {
  it('SIGKILL leaves the postmaster running; the next plain start stops it and serves', async () => {
    const first = await startServiceProcess({ ...opts, name: 'first' });
    expect((await first.call('GET', '/api/v1/mails/requests')).status).toBe(200);
    first.kill('SIGKILL');
    await first.waitForExit();
    const orphan = inspectPostmaster(pgDir);
    expect(orphan.kind).toBe('orphan');
    const orphanPid = (orphan as { pid: number }).pid;
    expect(alive(orphanPid)).toBe(true);

    const second = await startServiceProcess({ ...opts, name: 'second' });
    expect(second.logs().some((r) => r.msg === 'stopped the PostgreSQL a crashed service left running' && r.postmasterPid === orphanPid)).toBe(true);
    expect(alive(orphanPid)).toBe(false);
    expect((await second.call('GET', '/api/v1/mails/requests')).status).toBe(200);

    // A second service on the folder a live one uses is refused, and says why in one line.
    const err = await startServiceProcess({ ...opts, name: 'third' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain(`start-up failed: the database folder ${pgDir} is in use by another running service (pid ${second.pid}`);
    expect((await second.call('GET', '/api/v1/mails/requests')).status).toBe(200);

    // A clean stop takes its PostgreSQL along.
    const pgPid = (inspectPostmaster(pgDir) as { pid: number }).pid;
    // The service's malloc settings are for Node's heap; its PostgreSQL runs without them
    // (src/db/embedded.ts: with them its backends used 2.6 x the CPU per mail).
    const environ = (pid: number) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ(second.pid)).toEqual(expect.arrayContaining(Object.entries(SERVICE_MALLOC_ENV).map(([k, v]) => `${k}=${v}`)));
    expect(environ(pgPid).filter((v) => v.startsWith('MALLOC_'))).toEqual([]);
    // …and with the settings it is tuned for storing large requests with (src/db/embedded.ts).
    const args = fs.readFileSync(`/proc/${pgPid}/cmdline`, 'utf8').split('\0');
    expect(EMBEDDED_SETTINGS.length).toBeGreaterThan(0);
    for (const setting of EMBEDDED_SETTINGS) expect(args).toContain(setting);
    await second.stop();
    expect(alive(pgPid)).toBe(false);
    expect(inspectPostmaster(pgDir).kind).toBe('none');
  }, 240_000);

  it('a postmaster.pid of a process that is gone is removed and the service starts', async () => {
    // Whatever the test before left: no service and no postmaster on the folder.
    await stopAllServiceProcesses();
    await freeDataDir(pgDir);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    fs.writeFileSync(path.join(pgDir, 'postmaster.pid'), `${deadPid}\n${pgDir}\n1700000000\n5432\n/tmp\n127.0.0.1\n0\nready\n`);
    const svc = await startServiceProcess({ ...opts, name: 'after-stale-file' });
    expect(svc.logs().some((r) => r.msg === 'removed a stale postmaster.pid' && r.postmasterPid === deadPid)).toBe(true);
    expect((await svc.call('GET', '/api/v1/mails/requests')).status).toBe(200);
    await svc.stop();
  }, 120_000);
});

describe('run as root from a private folder', () => {
  const asRoot = process.getuid?.() === 0;
  (asRoot ? it : it.skip)(
    'stops with one line that says why the embedded PostgreSQL cannot run and what to do',
    async () => {
      const privateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-private-'));
      fs.chmodSync(privateDir, 0o700);
      try {
        const err = await startServiceProcess({
          dataDir: path.join(privateDir, 'data'),
          smtpUrl: 'smtp://127.0.0.1:9',
          name: 'private',
          startTimeoutMs: 60_000,
        }).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err?.message).toContain(
          `start-up failed: running as root, the embedded PostgreSQL runs as the user "postgres", which can't enter ${privateDir}`,
        );
        expect(err?.message).toContain('set DATABASE_URL');
      } finally {
        fs.rmSync(privateDir, { recursive: true, force: true });
      }
    },
    90_000,
  );
});
