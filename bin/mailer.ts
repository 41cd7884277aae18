#!/usr/bin/env node
// A small signing client: npm run mailer -- METHOD PATH [@file.json | 'json'] [-F field=@file]... [-o FILE]
// Reads MAILER_ACCESS_KEY, MAILER_SECRET_KEY and MAILER_URL (default http://localhost:8080).
// Signs exactly as NCP signature v2, so curl-style use needs no hand-made HMAC.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { signRequest } from '../src/http/signature.ts';
import { cliExitCode, UsageError } from '../src/shared/cli.ts';

const USAGE = `usage: npm run mailer -- METHOD PATH [@body.json | '{"json":...}'] [-F field=@file ...] [-F field=value ...] [-o FILE]
  e.g. npm run mailer -- POST /api/v1/mails @examples/event.json
       npm run mailer -- GET '/api/v1/mails/requests?size=5'
       npm run mailer -- POST /api/v1/files -F fileList=@invoice.pdf -F fileList=@terms.pdf
       npm run mailer -- GET /api/v1/exports/EXPORT_ID/file -o recipients.xlsx
  -F  a multipart/form-data part (repeatable): field=@path sends a file, field=value a text part
  -o  write the response body to FILE as received (binary-safe: .xlsx, attachments, backups)
env: MAILER_ACCESS_KEY, MAILER_SECRET_KEY (required), MAILER_URL (default http://localhost:8080), MAILER_LANG (x-ncp-lang)`;

/** -F parts as a FormData: field=@path reads the file, field=value is a text part. */
async function formOf(parts: string[]): Promise<FormData> {
  const form = new FormData();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 1) throw new UsageError(`-F ${part}: expected field=@file or field=value`);
    const field = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (value.startsWith('@')) {
      const file = value.slice(1);
      if (!fs.existsSync(file)) throw new UsageError(`-F ${part}: no file ${file}`);
      form.append(field, new Blob([await fs.promises.readFile(file)]), path.basename(file));
    } else form.append(field, value);
  }
  return form;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { form: { type: 'string', short: 'F', multiple: true }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [method, target, bodyArg, ...extra] = positionals;
  if (!method || !target?.startsWith('/') || extra.length) throw new UsageError('METHOD and a PATH starting with / are needed');
  if (bodyArg !== undefined && values.form?.length) throw new UsageError('a JSON body and -F parts can not be sent together');
  const accessKey = process.env.MAILER_ACCESS_KEY;
  const secretKey = process.env.MAILER_SECRET_KEY;
  if (!accessKey || !secretKey) throw new UsageError('MAILER_ACCESS_KEY and MAILER_SECRET_KEY must be set');
  const base = (process.env.MAILER_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
  let body: string | FormData | undefined;
  if (bodyArg !== undefined) body = bodyArg.startsWith('@') ? fs.readFileSync(bodyArg.slice(1), 'utf8') : bodyArg;
  if (values.form?.length) body = await formOf(values.form);
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
  // FormData sets its own multipart content type with the boundary.
  if (typeof body === 'string') headers['content-type'] = 'application/json';
  const res = await fetch(base + sent, { method: m, headers, body });
  // Bytes, not text: a download decoded as UTF-8 would be corrupted.
  const bytes = Buffer.from(await res.arrayBuffer());
  process.stderr.write(`HTTP ${res.status} (trace ${res.headers.get('x-ncp-trace-id') ?? '-'})\n`);
  if (values.output) {
    await fs.promises.writeFile(values.output, bytes);
    process.stderr.write(`wrote ${bytes.length} bytes to ${values.output}\n`);
  } else if ((res.headers.get('content-type') ?? '').includes('json')) {
    const text = bytes.toString('utf8');
    try {
      process.stdout.write(JSON.stringify(JSON.parse(text), null, 2) + '\n');
    } catch {
      process.stdout.write(text + '\n');
    }
  } else process.stdout.write(bytes);
  return res.ok ? 0 : 1;
}

if (import.meta.main) process.exitCode = await cliExitCode('mailer', USAGE, () => main(process.argv.slice(2)));
