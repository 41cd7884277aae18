import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { guardedLookup, isNonPublicAddress } from './webhook-url.ts';

/** Characters of an answer's body kept in the delivery log. */
export const RESPONSE_EXCERPT_CHARS = 1000;
/** Bytes of an answer read at most: a receiver answering with a large body does not hold a slot. */
const MAX_READ_BYTES = 64 * 1024;

export interface PostResult {
  statusCode: number | null;
  latencyMs: number;
  response: string | null;
  error: string | null;
}

export interface WebhookPoster {
  post(url: string, headers: Record<string, string>, body: string): Promise<PostResult>;
  close(): void;
}

/**
 * One POST per call over keep-alive agents whose lookups refuse non-public addresses (unless
 * allowed); redirects are answers like any other (not followed). Never throws: what went wrong
 * is in the result.
 */
export function createWebhookPoster(opts: { allowPrivate: boolean; timeoutMs: number; maxSockets: number }): WebhookPoster {
  const lookup = guardedLookup(opts.allowPrivate) as unknown as net.LookupFunction;
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, lookup };
  const agents = { 'http:': new http.Agent(agentOpts), 'https:': new https.Agent(agentOpts) };

  function post(rawUrl: string, headers: Record<string, string>, body: string): Promise<PostResult> {
    const t0 = performance.now();
    const done = (r: Omit<PostResult, 'latencyMs'>): PostResult => ({ ...r, latencyMs: Math.round(performance.now() - t0) });
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return Promise.resolve(done({ statusCode: null, response: null, error: 'invalid URL' }));
    }
    const agent = agents[url.protocol as keyof typeof agents];
    if (!agent) return Promise.resolve(done({ statusCode: null, response: null, error: 'only http and https URLs are delivered to' }));
    // A literal address never reaches the lookup: it is checked here.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!opts.allowPrivate && net.isIP(host) && isNonPublicAddress(host))
      return Promise.resolve(done({ statusCode: null, response: null, error: `refused: ${host} is not a public address (WEBHOOK_ALLOW_PRIVATE is off)` }));
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: Omit<PostResult, 'latencyMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(done(r));
      };
      const req = mod.request(
        url,
        { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            if (bytes < MAX_READ_BYTES) chunks.push(c);
            bytes += c.length;
            if (bytes > MAX_READ_BYTES) res.destroy();
          });
          const end = () => {
            const text = Buffer.concat(chunks).toString('utf8');
            finish({ statusCode: res.statusCode ?? null, response: text ? text.slice(0, RESPONSE_EXCERPT_CHARS) : null, error: null });
          };
          res.on('end', end);
          res.on('close', end);
          res.on('error', end);
        },
      );
      const timer = setTimeout(() => {
        finish({ statusCode: null, response: null, error: `timed out after ${opts.timeoutMs} ms` });
        req.destroy();
      }, opts.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish({
          statusCode: null,
          response: null,
          error: err.code === 'EWEBHOOKREFUSED' ? err.message : `${err.code ?? 'error'}: ${err.message}`.slice(0, 300),
        });
      });
      req.end(body);
    });
  }

  return {
    post,
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
