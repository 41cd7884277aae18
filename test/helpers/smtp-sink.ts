// Test SMTP sink: a real smtp-server on 127.0.0.1 (ephemeral port; or another loopback address
// and port, for direct delivery to several MX hosts) whose behaviour
// the test controls per recipient and per message, to exercise delivery against
// accepting, deferring, rejecting, stalling and connection-dropping servers.
//
// Replies as the client sees them (enhanced status codes are part of the text,
// smtp-server does not add its own since ENHANCEDSTATUSCODES is not advertised):
//   RCPT 'reject'  -> 550 5.1.1 <addr>: user unknown
//   RCPT 'defer'   -> 451 4.3.0 try again later
//   { code, message } -> `${code} ${message}`
//   accepted DATA  -> 250 OK: queued as <id>
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerError } from 'smtp-server';

export type SmtpReply = { code: number; message: string };
export type RcptBehaviour = 'accept' | 'reject' | 'defer' | SmtpReply;
export type DataBehaviour = 'accept' | SmtpReply;

export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  receivedAt: Date;
  /** the session was encrypted (STARTTLS) */
  secure: boolean;
  /** the name the client gave in EHLO/HELO */
  helo: string;
}

export interface TestSinkOptions {
  /** the loopback address to listen on (127.0.0.1; Linux routes all of 127/8 to loopback) */
  host?: string;
  /** the port (0: an ephemeral one) */
  port?: number;
  /** offer STARTTLS (smtp-server's own self-signed certificate) */
  starttls?: boolean;
}

export interface TestSink {
  /** delay (ms) before the reply to the end of DATA, per message (a slow relay); 0 answers at once */
  setDataDelay(ms: number): void;
  url: string;
  port: number;
  /** messages accepted at end of DATA, in arrival order (cleared in place by reset()) */
  messages: ReceivedMessage[];
  /** decides per RCPT TO; default accept. 'reject' = 550 5.1.1 user unknown; 'defer' = 451 4.3.0 try again later */
  onRcpt(fn: (address: string) => RcptBehaviour): void;
  /** decides at end of DATA: accept, or reply with code/message (e.g. 552 5.3.4 too big) */
  onData(fn: (msg: { from: string; to: string[]; raw: Buffer }) => DataBehaviour): void;
  /** the next n connections are destroyed right after connect, before the greeting (connection dropped) */
  dropConnections(n: number): void;
  /** while set, every connection is greeted with this reply (e.g. 421 busy) and closed */
  refuseGreeting(reply: SmtpReply | undefined): void;
  /** transactions that reached the end of DATA (accepted or not), each with its recipients */
  transactions: string[][];
  /**
   * while true, every command after MAIL FROM is left unanswered (stall): RCPT TO and the
   * end of DATA never get a reply. Commands stalled while on stay unanswered after turning it off.
   */
  setStall(on: boolean): void;
  /** waits until messages.length >= n or timeout (ms, default 5000), rejects on timeout with a clear message */
  waitForMessages(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** number of client connections accepted so far (including dropped ones) */
  connectionCount(): number;
  /**
   * per recipient domain: the most transactions in DATA at once (from the start of DATA to its
   * reply), and when each accepted message of the domain arrived (its 250)
   */
  domainStats(): Map<string, { maxConcurrent: number; acceptedAt: number[] }>;
  /** clears messages and behaviours */
  reset(): void;
  /** destroys all client connections and stops listening */
  close(): Promise<void>;
}

function smtpError(reply: SmtpReply): SMTPServerError {
  const err: SMTPServerError = new Error(reply.message);
  err.responseCode = reply.code;
  return err;
}

function rcptReply(behaviour: RcptBehaviour, address: string): SmtpReply | undefined {
  if (behaviour === 'accept') return undefined;
  if (behaviour === 'reject') return { code: 550, message: `5.1.1 <${address}>: user unknown` };
  if (behaviour === 'defer') return { code: 451, message: '4.3.0 try again later' };
  return behaviour;
}

const acceptAll = (): 'accept' => 'accept';

export async function startTestSink(opts: TestSinkOptions = {}): Promise<TestSink> {
  const host = opts.host ?? '127.0.0.1';
  let dataDelayMs = 0;
  let greeting: SmtpReply | undefined;
  const transactions: string[][] = [];
  const messages: ReceivedMessage[] = [];
  let rcptFn: (address: string) => RcptBehaviour = acceptAll;
  let dataFn: (msg: { from: string; to: string[]; raw: Buffer }) => DataBehaviour = acceptAll;
  let dropsLeft = 0;
  let stalled = false;
  let connections = 0;
  let waiters: Array<() => void> = [];
  const stats = new Map<string, { current: number; maxConcurrent: number; acceptedAt: number[] }>();
  const statOf = (domain: string) => {
    const st = stats.get(domain) ?? { current: 0, maxConcurrent: 0, acceptedAt: [] };
    stats.set(domain, st);
    return st;
  };

  const notify = (): void => {
    const current = waiters;
    waiters = [];
    for (const w of current) w();
  };

  // raw sockets by remote port (all clients are on loopback), to drop/destroy connections
  const sockets = new Map<number, Socket>();

  const server = new SMTPServer({
    banner: 'test sink',
    authOptional: true,
    disabledCommands: opts.starttls ? [] : ['STARTTLS'],
    disableReverseLookup: true,
    closeTimeout: 100,
    logger: false,
    onConnect(session, callback) {
      connections++;
      if (dropsLeft > 0) {
        dropsLeft--;
        // never answer: the connection goes away before the 220 greeting
        sockets.get(session.remotePort)?.destroy();
        return;
      }
      if (greeting) return callback(smtpError(greeting));
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (stalled) return; // left unanswered
      const reply = rcptReply(rcptFn(address.address), address.address);
      callback(reply ? smtpError(reply) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      const domains = [...new Set(session.envelope.rcptTo.map((r) => r.address.slice(r.address.lastIndexOf('@') + 1).toLowerCase()))];
      for (const d of domains) {
        const st = statOf(d);
        st.current++;
        st.maxConcurrent = Math.max(st.maxConcurrent, st.current);
      }
      let left = false;
      const leave = (accepted: boolean) => {
        if (left) return;
        left = true;
        for (const d of domains) {
          const st = statOf(d);
          st.current--;
          if (accepted) st.acceptedAt.push(Date.now());
        }
      };
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => leave(false)); // client went away mid-message
      stream.on('end', () => {
        if (stalled) {
          leave(false); // left unanswered
          return;
        }
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const to = session.envelope.rcptTo.map((r) => r.address);
        const raw = Buffer.concat(chunks);
        transactions.push(to);
        const decision = dataFn({ from, to, raw });
        if (decision !== 'accept') {
          leave(false);
          callback(smtpError(decision));
          return;
        }
        // A message counts as received when its 250 goes out (after the delay, if any).
        const accept = (): void => {
          if (stalled) {
            leave(false); // stalled while waiting: left unanswered
            return;
          }
          leave(true);
          const queueId = randomBytes(6).toString('hex');
          messages.push({ from, to, raw, receivedAt: new Date(), secure: session.secure, helo: session.hostNameAppearsAs });
          callback(null, `OK: queued as ${queueId}`);
          notify();
        };
        if (dataDelayMs > 0) setTimeout(accept, dataDelayMs);
        else accept();
      });
    },
  });

  // an 'error' event without a listener would crash the test process (client resets are expected here)
  server.on('error', () => undefined);

  server.server.on('connection', (socket: Socket) => {
    const port = socket.remotePort;
    if (port === undefined) return;
    sockets.set(port, socket);
    socket.once('close', () => {
      if (sockets.get(port) === socket) sockets.delete(port);
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('test sink: could not determine listening port');
  const port = address.port;

  let closing: Promise<void> | undefined;

  return {
    url: `smtp://${host}:${port}`,
    port,
    messages,
    transactions,
    onRcpt(fn) {
      rcptFn = fn;
    },
    onData(fn) {
      dataFn = fn;
    },
    dropConnections(n) {
      dropsLeft = n;
    },
    refuseGreeting(reply) {
      greeting = reply;
    },
    setStall(on) {
      stalled = on;
    },
    setDataDelay(ms) {
      dataDelayMs = ms;
    },
    connectionCount() {
      return connections;
    },
    waitForMessages(n, timeoutMs = 5000) {
      if (messages.length >= n) return Promise.resolve(messages.slice());
      return new Promise<ReceivedMessage[]>((resolve, reject) => {
        const check = (): void => {
          if (messages.length >= n) {
            clearTimeout(timer);
            resolve(messages.slice());
          } else {
            waiters.push(check);
          }
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          reject(new Error(`test sink: timed out after ${timeoutMs}ms waiting for ${n} message(s), received ${messages.length}`));
        }, timeoutMs);
        waiters.push(check);
      });
    },
    domainStats() {
      return new Map([...stats].map(([d, st]) => [d, { maxConcurrent: st.maxConcurrent, acceptedAt: [...st.acceptedAt] }]));
    },
    reset() {
      stats.clear();
      messages.length = 0;
      transactions.length = 0;
      greeting = undefined;
      rcptFn = acceptAll;
      dataFn = acceptAll;
      dropsLeft = 0;
      stalled = false;
      dataDelayMs = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // don't wait for pooled/stalled clients: cut them now so the listener closes right away
        for (const socket of sockets.values()) socket.destroy();
      });
      return closing;
    },
  };
}
