// The benchmark's SMTP sink, run as a child process (child_process.fork) so that receiving mail
// costs the measured process nothing. Accepts every message on 127.0.0.1 (ephemeral port),
// discards the bodies, and counts.
//
// IPC (JSON messages):
//   child -> parent  { type: 'ready', port }
//   parent -> child  { type: 'stats', id }            child -> { type: 'stats', id, ...SinkStats }
//   parent -> child  { type: 'mark', id }             starts a new window (unique recipients, first/last time); replies { type: 'marked', id }
//   parent -> child  { type: 'watch', id, target }    replies { type: 'reached', id, at } once the window has `target` unique recipients
//   parent -> child  { type: 'times', id }            replies { type: 'times', id, times: [address, at][] }: when the window first saw each recipient
//   parent -> child  { type: 'keep', id, every, max } from now on keeps the raw source of every `every`-th message of the window,
//                                                     `max` at most (for checking what was sent); replies { type: 'keeping', id }
//   parent -> child  { type: 'kept', id }             replies { type: 'kept', id, raws: base64[] }: the messages kept in the window
//   parent -> child  { type: 'close' }                stops listening and exits
// Times are wall-clock milliseconds (performance.timeOrigin + performance.now()).
import { SMTPServer } from 'smtp-server';

export interface SinkStats {
  /** messages accepted since start */
  count: number;
  /** message bytes received since start */
  bytes: number;
  connections: number;
  errors: number;
  /** in the current window (since the last 'mark') */
  window: { count: number; unique: number; duplicates: number; firstAt: number | null; lastAt: number | null };
}

export type SinkRequest =
  | { type: 'stats'; id: number }
  | { type: 'mark'; id: number }
  | { type: 'watch'; id: number; target: number }
  | { type: 'times'; id: number }
  | { type: 'keep'; id: number; every: number; max: number }
  | { type: 'kept'; id: number }
  | { type: 'close' };

const now = () => performance.timeOrigin + performance.now();

let count = 0;
let bytes = 0;
let connections = 0;
let errors = 0;
let win = { count: 0, duplicates: 0, firstAt: null as number | null, lastAt: null as number | null, seen: new Map<string, number>() };
let watches: { id: number; target: number }[] = [];
/** raw messages kept in the window (only when asked to: the sink normally discards bodies) */
let keep = { every: 0, max: 0, seen: 0, raws: [] as Buffer[] };

function send(msg: object) {
  process.send?.(msg);
}

function checkWatches(at: number) {
  if (!watches.length) return;
  const size = win.seen.size;
  const due = watches.filter((w) => size >= w.target);
  if (!due.length) return;
  watches = watches.filter((w) => size < w.target);
  for (const w of due) send({ type: 'reached', id: w.id, at });
}

const server = new SMTPServer({
  banner: 'bench sink',
  logger: false,
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  // accept whatever address syntax the client sends: the sink judges nothing
  lenientAddressParsing: true,
  closeTimeout: 500,
  onConnect(_session, callback) {
    connections++;
    callback();
  },
  onData(stream, session, callback) {
    // counted as the data begins: messages on several connections overlap
    const chunks: Buffer[] | undefined = keep.every && keep.raws.length < keep.max && keep.seen++ % keep.every === 0 ? [] : undefined;
    stream.on('data', chunks ? (d: Buffer) => void chunks.push(d) : () => undefined);
    stream.once('end', () => {
      const at = now();
      count++;
      bytes += stream.byteLength;
      win.count++;
      if (chunks && keep.raws.length < keep.max) keep.raws.push(Buffer.concat(chunks));
      win.firstAt ??= at;
      win.lastAt = at;
      for (const r of session.envelope.rcptTo) {
        const a = r.address.toLowerCase();
        if (win.seen.has(a)) win.duplicates++;
        else win.seen.set(a, at);
      }
      callback(null, 'OK: discarded');
      checkWatches(at);
    });
  },
});
server.on('error', () => {
  errors++;
});

process.on('message', (raw: unknown) => {
  const msg = raw as SinkRequest;
  if (msg.type === 'stats') {
    const stats: SinkStats = {
      count,
      bytes,
      connections,
      errors,
      window: { count: win.count, unique: win.seen.size, duplicates: win.duplicates, firstAt: win.firstAt, lastAt: win.lastAt },
    };
    send({ type: 'stats', id: msg.id, ...stats });
  } else if (msg.type === 'mark') {
    win = { count: 0, duplicates: 0, firstAt: null, lastAt: null, seen: new Map() };
    watches = [];
    keep = { every: 0, max: 0, seen: 0, raws: [] };
    send({ type: 'marked', id: msg.id });
  } else if (msg.type === 'watch') {
    watches.push({ id: msg.id, target: msg.target });
    checkWatches(now());
  } else if (msg.type === 'times') {
    send({ type: 'times', id: msg.id, times: [...win.seen] });
  } else if (msg.type === 'keep') {
    keep = { every: msg.every, max: msg.max, seen: 0, raws: [] };
    send({ type: 'keeping', id: msg.id });
  } else if (msg.type === 'kept') {
    send({ type: 'kept', id: msg.id, raws: keep.raws.map((r) => r.toString('base64')) });
  } else if (msg.type === 'close') {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }
});
// The parent went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const addr = server.server.address();
  send({ type: 'ready', port: typeof addr === 'object' && addr ? addr.port : 0 });
});
