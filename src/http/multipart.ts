import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { badRequest, entityTooLarge } from '../shared/errors.ts';

/**
 * multipart/form-data bodies (POST /files, POST /template/import), parsed as a stream: each file
 * part is handed to `onFile` as it arrives and nothing is buffered here. The OpenAPI validator
 * runs without its own (in-memory) uploader, so this is the only parser.
 */

export interface MultipartLimits {
  /** bytes of one file; a longer part arrives cut short, with `truncated` set on its stream */
  fileBytes: number;
  files: number;
  /** the file part's field, as refusals name it (default fileList) */
  field?: string;
  /** bytes of the whole body; beyond it the request is answered 413 and its connection closed */
  totalBytes: number;
}

export interface FilePart {
  field: string;
  /** as the client sent it, decoded (RFC 2231 `filename*` and raw UTF-8 alike) */
  filename: string | undefined;
  stream: Readable & { truncated?: boolean };
}

/**
 * An upload's file parts, handed to `onFile` as they arrive: what a service reads instead of
 * the HTTP request (readMultipart's contract for `onFile`).
 */
export type FileParts = (onFile: (part: FilePart) => Promise<void>) => Promise<void>;

/** The request's body as FileParts, read under `limits` only when the service asks for it (after its own checks). */
export function fileParts(req: Request, limits: MultipartLimits): FileParts {
  return (onFile) => readMultipart(req, limits, onFile);
}

/**
 * Reads the whole body. `onFile` must consume (or resume) each stream; its promises are awaited,
 * and the first rejection is the result. Form fields are ignored.
 */
export async function readMultipart(req: Request, limits: MultipartLimits, onFile: (part: FilePart) => Promise<void>): Promise<void> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // Clients send raw UTF-8 in filename="..." more often than RFC 2231; latin1 would garble it.
      defParamCharset: 'utf8',
      // busboy flags a part as truncated once it reaches the limit, so a file of exactly
      // fileBytes would count as too long: the limit handed to it is one byte more.
      limits: { fileSize: limits.fileBytes + 1, files: limits.files, fields: 50, fieldSize: 64 * 1024, parts: limits.files + 50 },
    });
  } catch {
    throw badRequest('body: not a multipart/form-data body with a boundary');
  }
  const work: Promise<void>[] = [];
  let firstError: unknown;
  let active: FilePart['stream'] | undefined;
  await new Promise<void>((resolve) => {
    // After a refusal the rest of the body is still parsed and discarded, so the answer goes out
    // on a healthy connection; only a body over totalBytes (or a broken one) stops reading.
    const fail = (err: unknown) => {
      firstError ??= err;
    };
    const stop = (err: unknown) => {
      firstError = err;
      req.off('data', count);
      req.unpipe(parser);
      active?.destroy(new Error('upload stopped'));
      resolve();
    };
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.totalBytes) {
        req.res?.set('Connection', 'close');
        stop(entityTooLarge());
      }
    };
    req.on('data', count);
    parser.on('file', (field, stream, info) => {
      const part = stream as FilePart['stream'];
      // busboy destroys the part's stream with "Unexpected end of form" when the body breaks off
      // (a bad part header, a cut-off boundary, a dropped connection), and stop() destroys it
      // too. A part nobody reads any more (resumed after a refusal) has no other listener, and an
      // unheard 'error' ends the process: the request's answer comes from firstError instead.
      part.on('error', () => undefined);
      active = part;
      if (firstError) return void part.resume();
      work.push(
        onFile({ field, filename: info.filename, stream: part }).catch((err) => {
          part.resume();
          fail(err);
        }),
      );
    });
    parser.on('filesLimit', () =>
      fail(badRequest(`${limits.field ?? 'fileList'}: at most ${limits.files} ${limits.files === 1 ? 'file' : 'files'} in one upload`)),
    );
    parser.on('error', () => stop(badRequest('body: malformed multipart/form-data')));
    parser.on('close', () => resolve());
    req.on('close', () => {
      if (!req.complete) stop(badRequest('body: the upload was interrupted'));
    });
    req.pipe(parser);
  });
  await Promise.allSettled(work);
  if (firstError) throw firstError;
}
