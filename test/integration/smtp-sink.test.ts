import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import type { SendMailOptions } from 'nodemailer/lib/mailer';
import { startDevSink } from '../../src/modules/delivery/dev-sink.ts';
import type { DevSink } from '../../src/modules/delivery/dev-sink.ts';
import { startTestSink } from '../helpers/smtp-sink.ts';
import type { TestSink } from '../helpers/smtp-sink.ts';

type SmtpError = Error & { code?: string; responseCode?: number; response?: string; command?: string };

const from = 'sender@example.test';

function transportFor(url: string, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    url,
    ignoreTLS: true,
    connectionTimeout: 2000,
    greetingTimeout: 2000,
    socketTimeout: 2000,
    ...extra,
  });
}

async function sendExpectingError(url: string, mail: SendMailOptions, extra: Record<string, unknown> = {}) {
  const transport = transportFor(url, extra);
  try {
    await transport.sendMail(mail);
  } catch (err) {
    return err as SmtpError;
  } finally {
    transport.close();
  }
  throw new Error('expected sendMail to fail');
}

describe('dev sink', () => {
  let dir: string;
  let sink: DevSink;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dev-sink-'));
    sink = await startDevSink({ outboxDir: path.join(dir, 'outbox') });
  });

  afterAll(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and stores each message as a parseable .eml', async () => {
    expect(sink.url).toBe(`smtp://127.0.0.1:${sink.port}`);
    const transport = transportFor(sink.url);
    try {
      const info = await transport.sendMail({
        from,
        to: ['a@example.test', 'b@example.test'],
        subject: '안녕하세요 テスト',
        text: '본문 body テキスト',
      });
      expect(info.accepted).toEqual(['a@example.test', 'b@example.test']);
      expect(info.response).toMatch(/^250 OK: queued as [0-9a-f]+$/);
    } finally {
      transport.close();
    }

    const files = await readdir(path.join(dir, 'outbox'));
    expect(files).toHaveLength(1); // no temp files left behind
    const [file] = files;
    expect(file).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-f]+\.eml$/);
    const parsed = await simpleParser(await readFile(path.join(dir, 'outbox', file!)));
    expect(parsed.subject).toBe('안녕하세요 テスト');
    expect(parsed.text?.trim()).toBe('본문 body テキスト');
  });

  it('close() does not hang on an open pooled connection', async () => {
    const localDir = await mkdtemp(path.join(os.tmpdir(), 'dev-sink-pool-'));
    const local = await startDevSink({ outboxDir: localDir });
    const transport = transportFor(local.url, { pool: true });
    try {
      await transport.sendMail({ from, to: 'x@example.test', subject: 'pooled', text: 'x' });
      const started = Date.now();
      await local.close();
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      transport.close();
      await rm(localDir, { recursive: true, force: true });
    }
  });
});

describe('test sink', () => {
  let sink: TestSink;

  beforeAll(async () => {
    sink = await startTestSink();
  });

  afterEach(() => {
    sink.reset();
  });

  afterAll(async () => {
    await sink.close();
  });

  it('accepts and records messages', async () => {
    const transport = transportFor(sink.url);
    try {
      const info = await transport.sendMail({ from, to: 'ok@example.test', subject: 'hello', text: 'hi' });
      expect(info.accepted).toEqual(['ok@example.test']);
    } finally {
      transport.close();
    }
    const [msg] = await sink.waitForMessages(1);
    expect(msg?.from).toBe(from);
    expect(msg?.to).toEqual(['ok@example.test']);
    expect(msg?.raw.toString()).toContain('Subject: hello');
  });

  it('rejects one recipient of two with 550 5.1.1', async () => {
    sink.onRcpt((address) => (address.startsWith('bad') ? 'reject' : 'accept'));
    const transport = transportFor(sink.url);
    try {
      const info = await transport.sendMail({
        from,
        to: ['good@example.test', 'bad@example.test'],
        subject: 'partial',
        text: 'x',
      });
      const rejectedErrors = (info as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? [];
      expect(info.accepted).toEqual(['good@example.test']);
      expect(info.rejected).toEqual(['bad@example.test']);
      expect(rejectedErrors[0]?.code).toBe('EENVELOPE');
      expect(rejectedErrors[0]?.responseCode).toBe(550);
      expect(rejectedErrors[0]?.response).toContain('5.1.1');
      expect(rejectedErrors[0]?.response).toBe('550 5.1.1 <bad@example.test>: user unknown');
    } finally {
      transport.close();
    }
    const [msg] = await sink.waitForMessages(1);
    expect(msg?.to).toEqual(['good@example.test']);
  });

  it('defers a recipient with 451', async () => {
    sink.onRcpt(() => 'defer');
    const err = await sendExpectingError(sink.url, { from, to: 'later@example.test', subject: 'defer', text: 'x' });
    expect(err.code).toBe('EENVELOPE');
    expect(err.responseCode).toBe(451);
    expect(err.response).toBe('451 4.3.0 try again later');
    expect(sink.messages).toHaveLength(0);
  });

  it('rejects at end of DATA with a custom reply', async () => {
    sink.onData(() => ({ code: 552, message: '5.3.4 too big' }));
    const err = await sendExpectingError(sink.url, { from, to: 'big@example.test', subject: 'big', text: 'x' });
    expect(err.code).toBe('EMESSAGE');
    expect(err.responseCode).toBe(552);
    expect(err.response).toBe('552 5.3.4 too big');
    expect(sink.messages).toHaveLength(0);
  });

  it('drops the connection', async () => {
    sink.dropConnections(1);
    const before = sink.connectionCount();
    const err = await sendExpectingError(sink.url, { from, to: 'drop@example.test', subject: 'drop', text: 'x' });
    // observed: ECONNECTION 'Connection closed unexpectedly'
    expect(['ECONNECTION', 'ESOCKET']).toContain(err.code);
    expect(sink.connectionCount()).toBe(before + 1);

    // the drop only applies to the next connection
    const transport = transportFor(sink.url);
    try {
      await transport.sendMail({ from, to: 'after-drop@example.test', subject: 'after', text: 'x' });
    } finally {
      transport.close();
    }
    await sink.waitForMessages(1);
  });

  it('stalls after MAIL FROM until the client times out', async () => {
    sink.setStall(true);
    const started = Date.now();
    const err = await sendExpectingError(
      sink.url,
      { from, to: 'stall@example.test', subject: 'stall', text: 'x' },
      { socketTimeout: 500, greetingTimeout: 500 },
    );
    const elapsed = Date.now() - started;
    expect(err.code).toBe('ETIMEDOUT');
    expect((err as SmtpError & { timeoutType?: string }).timeoutType).toBe('SOCKET_TIMEOUT');
    expect(elapsed).toBeLessThan(3000);
    expect(sink.messages).toHaveLength(0);
  });

  it('waitForMessages rejects with a clear message on timeout', async () => {
    await expect(sink.waitForMessages(1, 50)).rejects.toThrow(/timed out after 50ms waiting for 1 message\(s\), received 0/);
  });
});
