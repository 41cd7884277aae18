import type { Socket } from 'node:net';
import type { SMTPServer, SMTPServerError } from 'smtp-server';

/** How long close() lets open (e.g. pooled) client connections linger before they are cut */
export const SMTP_CLOSE_TIMEOUT_MS = 1000;

export interface SmtpListener {
  port: number;
  close(): Promise<void>;
}

export function smtpError(code: number, message: string): SMTPServerError {
  const err: SMTPServerError = new Error(message);
  err.responseCode = code;
  return err;
}

/**
 * Listens with an smtp-server instance on host:port (0: a free port), and closes it for good:
 * smtp-server says 421 to the connected clients, and whatever outlives its close timeout is cut.
 */
export async function listenSmtp(server: SMTPServer, host: string, port: number): Promise<SmtpListener> {
  const sockets = new Set<Socket>();
  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('smtp listener: could not determine its port');
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    close(): Promise<void> {
      closing ??= (async () => {
        const netClosed = new Promise<void>((resolve) => server.server.once('close', () => resolve()));
        // smtp-server calls back once the listener is closed, or after closeTimeout
        // (having sent 421 to the remaining clients) - whichever comes first
        await new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await netClosed;
      })();
      return closing;
    },
  };
}
