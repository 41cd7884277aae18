import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';

/**
 * Streams a download into the response. A client that goes away mid-file (closes the tab, a
 * download manager's probe, a timeout) is routine: the source is closed and it is logged at
 * debug, not reported as an unhandled error. A failing source is still an error (the error
 * handler ends the response; its headers are already out).
 */
export async function sendStream(res: Response, source: Readable): Promise<void> {
  try {
    await pipeline(source, res);
  } catch (err) {
    if (!res.writableFinished && (res.destroyed || res.req.destroyed)) {
      res.req.log?.debug({ err: (err as Error).message, sent: res.socket?.bytesWritten }, 'download ended by the client');
      return;
    }
    throw err;
  }
}
