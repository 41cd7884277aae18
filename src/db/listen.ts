import pg from 'pg';
import type { Logger } from '../logger.ts';

export interface Listener {
  close(): Promise<void>;
}

/** How long a lost LISTEN connection waits before it connects again. */
const RECONNECT_MS = 1_000;

/**
 * LISTENs on `channel` on a connection of its own (a pooled one would be handed to others),
 * calling `onNotify` for every notification. A lost connection is opened again; `onNotify` is
 * also called on every (re)connect, since notifications sent meanwhile are gone.
 */
export function listen(connectionString: string, channel: string, onNotify: () => void, logger: Logger): Listener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString, application_name: 'outbound-mailer-listen' });
    client = c;
    let lost = false;
    const reconnect = (err?: Error) => {
      if (lost) return;
      lost = true;
      c.end().catch(() => undefined);
      if (closed) return;
      logger.warn({ channel, err: err?.message }, 'LISTEN connection lost; reconnecting');
      retry = setTimeout(() => void connect(), RECONNECT_MS);
      retry.unref();
    };
    c.on('error', reconnect);
    c.on('end', () => reconnect());
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      onNotify();
    } catch (err) {
      reconnect(err as Error);
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
