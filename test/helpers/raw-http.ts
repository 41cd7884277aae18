// Requests as raw bytes on a socket, for bodies no HTTP client would send (broken multipart, bad
// chunk sizes, cut-off uploads): the hostile half of the fuzz and hostile-input tests.
import net from 'node:net';
import { signRequest } from '../../src/http/signature.ts';

export interface RawResult {
  /** 0 when the connection closed without a status line */
  status: number;
  headers: Record<string, string>;
  body: string;
  json: any;
}

export interface SignedKey {
  accessKey: string;
  secretKey: string;
}

/** The three NCP signature headers for `method target`, as "name: value" lines. */
export function signedHeaderLines(key: SignedKey, method: string, target: string): string[] {
  const ts = String(Date.now());
  return [
    `x-ncp-apigw-timestamp: ${ts}`,
    `x-ncp-iam-access-key: ${key.accessKey}`,
    `x-ncp-apigw-signature-v2: ${signRequest(key.secretKey, method, target, ts, key.accessKey)}`,
  ];
}

function parseResponse(raw: Buffer): RawResult {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (!text.startsWith('HTTP/1.1 ') || end < 0) return { status: 0, headers: {}, body: '', json: undefined };
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let bodyBytes = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) bodyBytes = unchunk(bodyBytes);
  else if (headers['content-length'] !== undefined) bodyBytes = bodyBytes.subarray(0, Number(headers['content-length']));
  const body = bodyBytes.toString('utf8');
  let json: unknown;
  try {
    json = body ? JSON.parse(body) : undefined;
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body, json };
}

function unchunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const nl = buf.indexOf('\r\n', at);
    if (nl < 0) break;
    const size = parseInt(buf.subarray(at, nl).toString('latin1'), 16);
    if (!size) break;
    out.push(buf.subarray(nl + 2, nl + 2 + size));
    at = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * Writes `head` (request line and headers, CRLF-joined, without the blank line) and `body` as
 * given, then half-closes when `endInput` is set (a client that stops sending). Resolves with the
 * first response once the server closes the connection or `idleMs` passes without more bytes.
 */
export function rawRequest(port: number, head: string[], body: Buffer | string = '', opts: { endInput?: boolean; idleMs?: number } = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks)));
    };
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(done, opts.idleMs ?? 3000);
    };
    socket.on('connect', () => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
      socket.write(body);
      if (opts.endInput) socket.end();
      idle();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const r = parseResponse(Buffer.concat(chunks));
      // A complete response with a known length ends the wait early.
      if (r.status && r.headers['content-length'] !== undefined && Buffer.byteLength(r.body) >= Number(r.headers['content-length'])) return done();
      idle();
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', (err) => (chunks.length ? done() : reject(err)));
  });
}

/** A signed raw request: method, target and headers, plus Host and Connection: close. */
export function signedRaw(
  port: number,
  key: SignedKey,
  method: string,
  target: string,
  headers: string[],
  body: Buffer | string = '',
  opts: { endInput?: boolean; idleMs?: number } = {},
): Promise<RawResult> {
  const head = [`${method} ${target} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close', ...signedHeaderLines(key, method, target), ...headers];
  return rawRequest(port, head, body, opts);
}

/** A multipart body built from parts whose header lines are given as is (so they may be broken). */
export function multipartBody(boundary: string, parts: { headers: string[]; content: Buffer | string }[], close = true): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    out.push(Buffer.from(`--${boundary}\r\n${p.headers.join('\r\n')}\r\n\r\n`, 'utf8'));
    out.push(Buffer.isBuffer(p.content) ? p.content : Buffer.from(p.content, 'utf8'));
    out.push(Buffer.from('\r\n'));
  }
  if (close) out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}
