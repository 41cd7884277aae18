// A TCP forwarder on a fixed loopback port that a test can take down (connections cut, port
// refusing) and bring back up on the same port: an SMTP relay that goes away and returns.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** smtp://127.0.0.1:<port> */
  url: string;
  isUp(): boolean;
  /** cuts every open connection and stops listening: new connections are refused */
  down(): Promise<void>;
  /** listens again on the same port */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }, opts: { port?: number } = {}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = opts.port ?? 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, host);
        // SMTP is a ping-pong of small writes: without this, Nagle + delayed ACK add ~40 ms a step.
        client.setNoDelay(true);
        upstream.setNoDelay(true);
        sockets.add(client);
        sockets.add(upstream);
        const cut = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', cut).on('close', cut);
        upstream.on('error', cut).on('close', cut);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const stopListening = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await listen();
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    isUp: () => server !== undefined,
    down: stopListening,
    async up() {
      if (!server) await listen();
    },
    close: stopListening,
  };
}
