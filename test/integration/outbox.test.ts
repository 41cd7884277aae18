import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import nodemailer from 'nodemailer';
import { startDevSink, type DevSink } from '../../src/modules/delivery/dev-sink.ts';

/** What the dev sink stored can be seen: one log line per message, and `npm run outbox`. */

let dataDir: string;
let sink: DevSink;
const logs: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
const logger = {
  info: (obj: object, msg?: string) => logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
  warn: (obj: object, msg?: string) => logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  debug: (obj: object, msg?: string) => logs.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
};

function outbox(...args: string[]) {
  return spawnSync(process.execPath, ['src/modules/delivery/outbox-cli.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATA_DIR: dataDir, NODE_NO_WARNINGS: '1' },
    timeout: 20_000,
  });
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'outbox-'));
  sink = await startDevSink({ outboxDir: path.join(dataDir, 'outbox'), logger });
});
afterAll(async () => {
  await sink.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the dev sink outbox', () => {
  it('an empty outbox says so', () => {
    const res = outbox();
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('no stored messages');
  });

  it('logs one line per message (from, recipient count, subject, file), the addresses only at debug; npm run outbox lists them', async () => {
    const transport = nodemailer.createTransport({ url: sink.url, ignoreTLS: true });
    try {
      await transport.sendMail({
        from: '"Shop" <shop@example.test>',
        to: ['kim@example.test', 'lee@example.test'],
        subject: '쿠폰이 도착했습니다 ${NAME} — a long subject that is folded and encoded',
        text: 'x',
      });
      await transport.sendMail({ from: 'news@example.test', to: 'park@example.test', subject: 'Second', text: 'y' });
    } finally {
      transport.close();
    }
    const stored = logs.filter((l) => l.msg === 'dev sink stored message');
    expect(stored).toHaveLength(2);
    expect(stored[0]!.level).toBe('info');
    expect(stored[0]!.obj).toMatchObject({
      from: 'shop@example.test',
      toCount: 2,
      subject: '쿠폰이 도착했습니다 ${NAME} — a long subject that is folded and encoded',
    });
    expect(stored[0]!.obj.file).toMatch(/\.eml$/);
    expect(JSON.stringify(logs.filter((l) => l.level !== 'debug'))).not.toMatch(/kim@|lee@|park@/);
    expect(logs.filter((l) => l.level === 'debug').map((l) => l.obj.to)).toEqual([['kim@example.test', 'lee@example.test'], ['park@example.test']]);

    const res = outbox();
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('from:    Shop <shop@example.test>');
    expect(res.stdout).toContain('to:      kim@example.test, lee@example.test');
    expect(res.stdout).toContain('subject: 쿠폰이 도착했습니다 ${NAME} — a long subject that is folded and encoded');
    expect(res.stdout).toContain('subject: Second');
    expect(res.stdout.indexOf('Second')).toBeGreaterThan(res.stdout.indexOf('쿠폰'));
    expect(res.stdout).toContain('2 of 2 message(s)');

    const last = outbox('--limit', '1');
    expect(last.stdout).not.toContain('쿠폰');
    expect(last.stdout).toContain('1 of 2 message(s)');
    expect(outbox('--limit', 'x').status).toBe(2);
  });
});
