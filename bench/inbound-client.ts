// The inbound benchmark's sending MTA, in a process of its own (as a real one would be): sends
// every message of a JSON-lines file ({to, raw: base64}) to 127.0.0.1:<port> with a null sender
// over <connections> pooled connections, and prints {"seconds": …, "refused": …}.
// Usage: node bench/inbound-client.ts <file> <port> <connections>
import fs from 'node:fs';
import nodemailer from 'nodemailer';

const [file, portText, connectionsText] = process.argv.slice(2);
const port = Number(portText);
const connections = Number(connectionsText);
const messages = fs
  .readFileSync(file!, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const m = JSON.parse(line) as { to: string; raw: string };
    return { to: m.to, raw: Buffer.from(m.raw, 'base64') };
  });
const client = nodemailer.createTransport({
  host: '127.0.0.1',
  port,
  secure: false,
  ignoreTLS: true,
  pool: true,
  maxConnections: connections,
  maxMessages: Infinity,
});
let refused = 0;
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: connections * 2 }, async () => {
    while (next < messages.length) {
      const m = messages[next++]!;
      await client.sendMail({ envelope: { from: '', to: m.to }, raw: m.raw }).catch(() => refused++);
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
client.close();
process.stdout.write(`${JSON.stringify({ seconds, refused })}\n`);
