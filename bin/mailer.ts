#!/usr/bin/env node
// A small signing client: npm run mailer -- METHOD PATH [@file.json | 'json']
// Reads MAILER_ACCESS_KEY, MAILER_SECRET_KEY and MAILER_URL (default http://localhost:8080).
// Signs exactly as NCP signature v2, so curl-style use needs no hand-made HMAC.
import fs from 'node:fs';
import { signRequest } from '../src/http/signature.ts';

const USAGE = `usage: npm run mailer -- METHOD PATH [@body.json | '{"json":...}']
  e.g. npm run mailer -- POST /api/v1/mails @examples/event.json
       npm run mailer -- GET '/api/v1/mails/requests?size=5'
env: MAILER_ACCESS_KEY, MAILER_SECRET_KEY (required), MAILER_URL (default http://localhost:8080), MAILER_LANG (x-ncp-lang)`;

async function main(argv: string[]): Promise<number> {
  const [method, target, bodyArg] = argv;
  const accessKey = process.env.MAILER_ACCESS_KEY;
  const secretKey = process.env.MAILER_SECRET_KEY;
  if (!method || !target || !target.startsWith('/')) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  if (!accessKey || !secretKey) {
    process.stderr.write('MAILER_ACCESS_KEY and MAILER_SECRET_KEY must be set\n');
    return 2;
  }
  const base = (process.env.MAILER_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
  let body: string | undefined;
  if (bodyArg !== undefined) body = bodyArg.startsWith('@') ? fs.readFileSync(bodyArg.slice(1), 'utf8') : bodyArg;
  // fetch percent-encodes what a request line can't carry (non-ASCII, spaces, quotes); the
  // server verifies the target as sent, so sign the encoded form that actually goes out.
  const encoded = new URL(target, 'http://mailer.invalid');
  const sent = encoded.pathname + encoded.search;
  const ts = String(Date.now());
  const m = method.toUpperCase();
  const headers: Record<string, string> = {
    'x-ncp-apigw-timestamp': ts,
    'x-ncp-iam-access-key': accessKey,
    'x-ncp-apigw-signature-v2': signRequest(secretKey, m, sent, ts, accessKey),
  };
  if (process.env.MAILER_LANG) headers['x-ncp-lang'] = process.env.MAILER_LANG;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + sent, { method: m, headers, body });
  const text = await res.text();
  process.stderr.write(`HTTP ${res.status} (trace ${res.headers.get('x-ncp-trace-id') ?? '-'})\n`);
  try {
    process.stdout.write(JSON.stringify(JSON.parse(text), null, 2) + '\n');
  } catch {
    process.stdout.write(text + '\n');
  }
  return res.ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
