import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { composedStreamPlugin, gathered } from '../../src/modules/delivery/compose-stream.ts';

// The relay transport's stream plugin without a DKIM key: what nodemailer composes reaches the
// connection in few writes, byte for byte as composed.

/** each piece as written (an async iterator would join what is buffered) */
function pieces(stream: Readable): Promise<Buffer[]> {
  const out: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (piece: Buffer) => out.push(piece));
    stream.once('end', () => resolve(out));
    stream.once('error', reject);
  });
}

const message = {
  from: 'Shop <shop@example.com>',
  to: 'kim@example.org',
  subject: 'Your order',
  html: '<p>Hello Kim,</p>\n'.repeat(40),
  text: 'Hello Kim,\n'.repeat(40),
  messageId: '<fixed@example.com>',
  date: new Date('2026-12-05T00:00:00Z'),
};

describe('composedStreamPlugin without a key', () => {
  it('hands a small mail over in one piece, where nodemailer composes it in several', async () => {
    const plain = nodemailer.createTransport({ streamTransport: true, buffer: false });
    const composed = await pieces((await plain.sendMail(message)).message as Readable);
    expect(composed.length).toBeGreaterThan(3);

    const transport = nodemailer.createTransport({ streamTransport: true, buffer: false });
    transport.use('stream', composedStreamPlugin);
    const sent = await pieces((await transport.sendMail(message)).message as Readable);
    expect(sent).toHaveLength(1);
    // the same message: only the MIME boundaries are drawn at random
    const boundaries = (raw: string) => raw.replace(/--_NmP-[0-9a-f-]+-Part_\d+/g, '--B').replace(/boundary="[^"]+"/g, 'boundary="B"');
    expect(boundaries(sent[0]!.toString('latin1'))).toBe(boundaries(Buffer.concat(composed).toString('latin1')));
  });
});

describe('gathered', () => {
  it('passes a large input on in writes of at least the size asked, the last one short, nothing lost or reordered', async () => {
    const input = Array.from({ length: 100 }, (_, i) => Buffer.alloc(1000 + i, i));
    const out = await pieces(gathered(Readable.from(input), 16 * 1024));
    expect(Buffer.concat(out).equals(Buffer.concat(input))).toBe(true);
    expect(out.length).toBeLessThan(10);
    for (const piece of out.slice(0, -1)) expect(piece.length).toBeGreaterThanOrEqual(16 * 1024);
    expect(out.at(-1)!.length).toBeLessThan(16 * 1024 + 1100);
  });

  it('passes a piece as large as a write on as it is (the same buffer, not a copy), after what was gathered before it', async () => {
    const big = Buffer.alloc(20 * 1024, 7);
    const out = await pieces(gathered(Readable.from([Buffer.from('head'), big, Buffer.from('tail')]), 16 * 1024));
    expect(out.map((p) => p.length)).toEqual([4, 20 * 1024, 4]);
    expect(out[1]).toBe(big);
  });

  it('passes an empty input on as nothing, and an error of the input on as its own', async () => {
    expect(await pieces(gathered(Readable.from([])))).toEqual([]);
    const failing = new Readable({ read() {} });
    const out = gathered(failing);
    failing.push(Buffer.from('half a mail'));
    setImmediate(() => failing.destroy(new Error('attachment unreadable')));
    await expect(pieces(out)).rejects.toThrow('attachment unreadable');
  });
});
