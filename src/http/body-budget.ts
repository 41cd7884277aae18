import type { NextFunction, Request, Response } from 'express';
import { badRequest, entityTooLarge, rateLimited } from '../shared/errors.ts';
import { parseLargeJson, parseLargeJsonDeferring, type JsonElements } from './large-json.ts';
import { findUnstorableText, mayHoldUnstorableText } from './storable-text.ts';

/**
 * Admission of large JSON bodies by a byte budget (issue 11: two 64 MB POST /mails at once
 * exhausted the 256 MB heap). A body costs several times its size while it is parsed and
 * processed (the raw bytes, the decoded string, the object graph, the validated copy), so the
 * bodies in hand at once are bounded by their declared sizes.
 *
 * A body over the budget's free bytes waits in turn, unread (TCP holds it back, so waiting costs
 * a socket, not memory), and is parsed when earlier ones have been answered: clients get their
 * 201 a little later instead of an error. A body that still has not got its turn after
 * `waitMs`, or that finds `maxWaiting` bodies already waiting, is refused with 429 and
 * Retry-After. Bodies under `minBytes` (the one-mail transactional requests) pass at once.
 */
export interface ByteBudget {
  /** resolves with a release function once `bytes` fit, or with undefined after `waitMs` (or at once when the queue is full) */
  acquire(bytes: number, waitMs: number): Promise<(() => void) | undefined>;
  inUse(): number;
  waiting(): number;
}

export function createByteBudget(capacity: number, maxWaiting: number): ByteBudget {
  let used = 0;
  const queue: { bytes: number; grant: () => void }[] = [];
  const pump = () => {
    // FIFO: a large body at the head is not overtaken by smaller ones behind it forever.
    while (queue.length && (used === 0 || used + queue[0]!.bytes <= capacity)) {
      const next = queue.shift()!;
      used += next.bytes;
      next.grant();
    }
  };
  const releaser = (bytes: number) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      used -= bytes;
      pump();
    };
  };
  return {
    acquire(requested, waitMs) {
      const bytes = Math.min(Math.max(requested, 1), capacity);
      if (queue.length === 0 && (used === 0 || used + bytes <= capacity)) {
        used += bytes;
        return Promise.resolve(releaser(bytes));
      }
      if (queue.length >= maxWaiting) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const entry = {
          bytes,
          grant: () => {
            clearTimeout(timer);
            resolve(releaser(bytes));
          },
        };
        const timer = setTimeout(() => {
          queue.splice(queue.indexOf(entry), 1);
          resolve(undefined);
        }, waitMs);
        queue.push(entry);
      });
    },
    inUse: () => used,
    waiting: () => queue.length,
  };
}

/** Seconds a refused client should wait: about the time to work through what is in hand. */
const RETRY_AFTER_S = 5;

declare global {
  namespace Express {
    interface Request {
      /**
       * A large body's deferred array (DeferArray), which the body has empty. Each element is
       * checked as it is parsed, as the whole body would have been: its syntax (400 "Malformed
       * JSON body"), its text (refuseUnstorableText's 400) and `checkElement` (the validator's).
       */
      deferredElements?: JsonElements;
    }
  }
}

/** Which top-level array of which requests' bodies is left as bytes (parseLargeJsonDeferring). */
export interface DeferArray {
  applies: (req: Request) => boolean;
  key: string;
  minElements: number;
  /** what the OpenAPI validator would check of element `index` (it validates the body without them) */
  checkElement: (value: unknown, index: number) => void;
}

/** The deferred elements, each checked as it is parsed (see Request.deferredElements). */
function checkedElements(raw: Buffer, elements: JsonElements, defer: DeferArray): JsonElements {
  const suspect = mayHoldUnstorableText(raw);
  return {
    length: elements.length,
    bytes: elements.bytes,
    at(i) {
      let value: unknown;
      try {
        value = elements.at(i);
      } catch {
        throw badRequest('Malformed JSON body');
      }
      const unstorable = suspect ? findUnstorableText(value, `${defer.key}[${i}]`) : undefined;
      if (unstorable) throw badRequest(unstorable);
      defer.checkElement(value, i);
      return value;
    },
  };
}

export function admitLargeBodies(budget: ByteBudget, opts: { minBytes: number; maxBytes: number; waitMs: number; defer?: DeferArray }) {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (!req.is(['application/json', 'application/*+json'])) return next();
    const declared = req.headers['content-length'];
    // A chunked body's size is unknown until it has been read: it is charged as the largest allowed.
    const bytes = declared !== undefined ? Number(declared) : req.headers['transfer-encoding'] ? opts.maxBytes : 0;
    // Over the body limit: express.json refuses it (413) without reading it in.
    if (!(bytes >= opts.minBytes) || bytes > opts.maxBytes) return next();
    // A client that hangs up while its body waits: its 'close' has fired by the time the budget
    // is granted, and a listener added then would never run, keeping the bytes charged for good.
    let gone = false;
    const onGone = () => {
      gone = true;
    };
    res.once('close', onGone);
    const release = await budget.acquire(bytes, opts.waitMs);
    res.removeListener('close', onGone);
    if (gone || res.destroyed || req.destroyed) {
      release?.();
      return;
    }
    if (!release) {
      req.log?.info({ bytes, inUse: budget.inUse(), waiting: budget.waiting() }, 'large body refused: body budget in use');
      return next(rateLimited(RETRY_AFTER_S));
    }
    res.once('finish', release);
    res.once('close', release);
    if (!readsItself(req)) return next();
    try {
      const parsed = await readLargeJson(req, opts.maxBytes, opts.defer?.applies(req) ? opts.defer : undefined);
      req.body = parsed.body;
      if (parsed.deferred) req.deferredElements = parsed.deferred;
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** Plain UTF-8 JSON is read here; compressed or other charsets are left to express.json. */
function readsItself(req: Request): boolean {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  return encoding === 'identity' && (charset === undefined || charset === 'utf-8' || charset === 'utf8');
}

/**
 * Reads a large JSON body into one buffer of its declared size (express.json gathers chunks
 * and concatenates them: twice the body at the end) and parses it without making it one string
 * (large-json.ts). express.json then sees a finished request and leaves it alone.
 */
async function readLargeJson(req: Request, maxBytes: number, defer: DeferArray | undefined): Promise<{ body: unknown; deferred?: JsonElements }> {
  const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const fixed = declared !== undefined ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let length = 0;
    const fail = (err: Error) => {
      req.removeListener('data', onData);
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (length + chunk.length > (declared ?? maxBytes))
        return fail(declared === undefined ? entityTooLarge() : badRequest('body: longer than its Content-Length'));
      if (fixed) chunk.copy(fixed, length);
      else chunks.push(chunk);
      length += chunk.length;
    };
    req.on('data', onData);
    req.once('error', (err) => fail(badRequest(`body: could not be read (${err.message})`)));
    req.once('aborted', () => fail(badRequest('body: the client stopped sending it')));
    req.once('close', () => {
      if (!req.readableEnded) fail(badRequest('body: the client stopped sending it'));
    });
    req.once('end', () => {
      if (fixed && length !== declared) return reject(badRequest('body: shorter than its Content-Length'));
      resolve(fixed ?? Buffer.concat(chunks, length));
    });
  });
  if (req.headers['idempotency-key'] !== undefined) req.rawBody = raw;
  // express.json's strict mode: an object or an array, nothing else.
  if (!/^[\s]*[{[]/.test(raw.toString('utf8', 0, 64))) throw badRequest('Malformed JSON body');
  try {
    if (!defer) return { body: parseLargeJson(raw) };
    const { body, deferred } = parseLargeJsonDeferring(raw, defer.key, defer.minElements);
    return { body, deferred: deferred && checkedElements(raw, deferred, defer) };
  } catch {
    throw badRequest('Malformed JSON body');
  }
}
