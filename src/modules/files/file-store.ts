import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Encoder } from 'nodemailer/lib/base64';
import type { ReadAt } from './inspect-zip.ts';

/**
 * Where attachment bytes live: DATA_DIR/files/<fileId>. An upload is written as <fileId>.part
 * (the bytes as sent, which are inspected), then stored base64-encoded in 76-character CRLF
 * lines: the form every mail carries it in, so sending copies it and encodes nothing. Several
 * instances (ROLE=api / worker) must share DATA_DIR for attachments.
 */

/** NCP's format for tempRequestId and fileId: a UUID with "-99" appended. */
export const newUploadId = () => `${crypto.randomUUID()}-99`;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-99$/;
export const isUploadId = (id: string) => UPLOAD_ID.test(id);

export const filesDir = (dataDir: string) => path.join(dataDir, 'files');

export function storedPath(dataDir: string, fileId: string): string {
  // Ids reach this only from our own rows, but a path is built from them: never let one escape.
  if (!isUploadId(fileId)) throw new Error(`not a file id: ${fileId}`);
  return path.join(filesDir(dataDir), fileId);
}

export const partPath = (dataDir: string, fileId: string) => `${storedPath(dataDir, fileId)}.part`;

/** Streams `source` to the file's .part path (backpressure included); returns the bytes written. */
export async function writePart(dataDir: string, fileId: string, source: Readable): Promise<number> {
  await fs.promises.mkdir(filesDir(dataDir), { recursive: true });
  let bytes = 0;
  source.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await pipeline(source, fs.createWriteStream(partPath(dataDir, fileId), { flags: 'wx' }) as Writable);
  return bytes;
}

/** Stores a checked upload: its .part, base64-encoded once, becomes the stored file. */
export async function commitPart(dataDir: string, fileId: string): Promise<void> {
  await pipeline(fs.createReadStream(partPath(dataDir, fileId)), new Encoder(), fs.createWriteStream(storedPath(dataDir, fileId), { flags: 'wx' }));
  await fs.promises.rm(partPath(dataDir, fileId));
}

/** Removes a file's bytes (stored and partial); a file already gone is fine. */
export async function removeStored(dataDir: string, fileId: string): Promise<void> {
  await Promise.all([fs.promises.rm(storedPath(dataDir, fileId), { force: true }), fs.promises.rm(partPath(dataDir, fileId), { force: true })]);
}

/** Positional reads of a file for inspection, without loading it; close() when done. */
export async function openForReading(file: string): Promise<{ readAt: ReadAt; close(): Promise<void> }> {
  const handle = await fs.promises.open(file, 'r');
  return {
    readAt: async (position, length) => {
      if (length <= 0) return Buffer.alloc(0);
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
}

/**
 * `prefix` and then the file's bytes, as a stream that opens the file only when first read: a
 * message built but never sent (a refused envelope, a dropped connection) leaves no descriptor
 * open. Every mail gets its own stream over the same file, so an attachment is never copied
 * per mail.
 */
export function lazyFileStream(file: string, prefix?: Buffer): Readable {
  let source: fs.ReadStream | undefined;
  const out: Readable = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (source) {
        source.resume();
        return;
      }
      if (prefix) out.push(prefix);
      source = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
      source.on('data', (chunk) => {
        if (!out.push(chunk)) source!.pause();
      });
      source.once('end', () => out.push(null));
      source.once('error', (err) => out.destroy(err));
    },
    destroy(err, callback) {
      source?.destroy();
      callback(err);
    },
  });
  return out;
}

/** Stored (base64, CRLF lines) bytes back to the original ones, as they stream. */
class Base64Decode extends Transform {
  private rest = '';

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.rest + chunk.toString('latin1').replace(/[\r\n]/g, '');
    // base64 decodes in groups of 4 characters: the tail waits for the next chunk
    const whole = text.length - (text.length % 4);
    this.rest = text.slice(whole);
    callback(null, Buffer.from(text.slice(0, whole), 'base64'));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.rest ? Buffer.from(this.rest, 'base64') : undefined);
  }
}

/**
 * A stored file's original content as a stream; the file is opened before this returns, so a
 * missing file is an error here (ENOENT), not in the middle of an answer.
 */
export async function openOriginalContent(dataDir: string, fileId: string): Promise<Readable> {
  const handle = await fs.promises.open(storedPath(dataDir, fileId), 'r');
  const source = handle.createReadStream({ highWaterMark: 64 * 1024 });
  const decoded = new Base64Decode();
  source.once('error', (err) => decoded.destroy(err));
  decoded.once('close', () => source.destroy());
  return source.pipe(decoded);
}
