import pg from 'pg';
import type { Logger } from '../../logger.ts';

/**
 * LISTEN access_key_changed (a trigger on access_keys, see migrations): tells this instance's key
 * cache that a key was revoked or removed anywhere. While the listening connection is down,
 * `listening()` is false and the cache is bypassed, so a revocation is never missed.
 */
export interface KeyChanges {
  listening(): boolean;
  /** bumped on every change and on every (re)connect: a lookup that started before a bump must not be cached */
  generation(): number;
  onChange(fn: (accessKey: string) => void): void;
  stop(): Promise<void>;
}

const KEY_CHANNEL = 'access_key_changed';

export async function listenForKeyChanges(databaseUrl: string, logger: Logger, retryMs = 1000): Promise<KeyChanges> {
  const listeners: ((accessKey: string) => void)[] = [];
  let client: pg.Client | undefined;
  let up = false;
  let gen = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    const lost = () => {
      if (client !== c) return;
      client = undefined;
      up = false;
      gen++;
      if (stopped) return;
      logger.warn('access-key change listener lost its connection; keys are looked up on every request until it is back');
      timer = setTimeout(() => void connect().catch(() => undefined), retryMs);
      timer.unref();
    };
    c.on('error', lost);
    c.on('end', lost);
    c.on('notification', (msg) => {
      if (msg.channel !== KEY_CHANNEL || !msg.payload) return;
      gen++;
      for (const fn of listeners) fn(msg.payload);
    });
    client = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${KEY_CHANNEL}`);
      gen++;
      up = true;
    } catch (err) {
      lost();
      throw err;
    }
  };
  await connect();
  return {
    listening: () => up,
    generation: () => gen,
    onChange: (fn) => void listeners.push(fn),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      up = false;
      await c?.end().catch(() => undefined);
    },
  };
}
