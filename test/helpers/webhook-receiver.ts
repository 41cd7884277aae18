import http from 'node:http';

export interface ReceivedHook {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A webhook receiver on 127.0.0.1: records every POST and answers as `answer` says (default 200;
 * 0: never answers).
 * down() closes it (connections refused), up() listens again on the same port.
 */
export interface WebhookReceiver {
  url: string;
  received: ReceivedHook[];
  answer: (hook: ReceivedHook, n: number) => number;
  /** the Location of a 3xx answer */
  redirectTo: string;
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(path = '/hook'): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const r: WebhookReceiver = {
    url: '',
    received,
    answer: () => 200,
    redirectTo: 'http://127.0.0.1:9/',
    async waitFor(n, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} of ${n} deliveries in ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 50));
      }
      return received;
    },
    down: () => stop(),
    up: () => listen(port),
    close: () => stop(),
  };
  let calls = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hook = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const status = r.answer(hook, calls++);
      if (status === 0) return;
      if (status >= 200 && status < 300) received.push(hook);
      res
        .writeHead(status, { 'content-type': 'text/plain', ...(status >= 300 && status < 400 ? { location: r.redirectTo } : {}) })
        .end(status >= 300 ? `answer ${status} ${'x'.repeat(2000)}` : 'ok');
    });
  });
  let port = 0;
  function listen(p: number) {
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }
  function stop() {
    return new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
  await listen(0);
  r.url = `http://127.0.0.1:${port}${path}`;
  return r;
}
