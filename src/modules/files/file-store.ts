import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Encoder } from 'nodemailer/lib/base64';
import type { BlobStore } from '../../shared/blob-store/blob-store.ts';
import type { ReadAt } from './inspect-zip.ts';

/**
 * Where attachment bytes live: the blob store's files/<fileId> (BLOB_STORE=local:
 * DATA_DIR/files/<fileId>). An upload is written as DATA_DIR/files/<fileId>.part on the API host
 * that takes it (the bytes as sent, which are inspected with positional reads), then stored
 * base64-encoded in 76-character CRLF lines: the form every mail carries it in, so sending copies
 * it and encodes nothing. With BLOB_STORE=local, ROLE=api and ROLE=worker instances must share
 * DATA_DIR; with postgres or s3 they need not.
 */

/** NCP's format for tempRequestId and fileId: a UUID with "-99" appended. */
export const newUploadId = () => `${crypto.randomUUID()}-99`;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-99$/;
export const isUploadId = (id: string) => UPLOAD_ID.test(id);

export const filesDir = (dataDir: string) => path.join(dataDir, 'files');

/** Ids reach keys and paths only from our own rows, but keys and paths are built from them: never let one escape. */
function checkFileId(fileId: string): string {
  if (!isUploadId(fileId)) throw new Error(`not a file id: ${fileId}`);
  return fileId;
}

/** The stored file's key in the blob store. */
export const fileKey = (fileId: string) => `files/${checkFileId(fileId)}`;

export const partPath = (dataDir: string, fileId: string) => path.join(filesDir(dataDir), `${checkFileId(fileId)}.part`);

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

/** Stores a checked upload: its .part, base64-encoded once, becomes the stored blob (whole, or not at all). */
export async function commitPart(blobs: BlobStore, dataDir: string, fileId: string): Promise<void> {
  const source = fs.createReadStream(partPath(dataDir, fileId));
  const encoded = new Encoder();
  source.once('error', (err) => encoded.destroy(err));
  encoded.once('close', () => source.destroy());
  try {
    await blobs.put(fileKey(fileId), source.pipe(encoded));
  } finally {
    // a store that gave up reading (an upload that failed) would leave the file open
    encoded.destroy();
  }
  await fs.promises.rm(partPath(dataDir, fileId));
}

/** Removes a file's bytes (stored, and partial on this host); a file already gone is fine. */
export async function removeStored(blobs: BlobStore, dataDir: string, fileId: string): Promise<void> {
  await Promise.all([blobs.remove(fileKey(fileId)), fs.promises.rm(partPath(dataDir, fileId), { force: true })]);
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
 * A stored file's original content as a stream; the blob is opened before this returns, so a
 * missing file is an error here (BlobNotFoundError, code ENOENT), not in the middle of an answer.
 */
export async function openOriginalContent(blobs: BlobStore, fileId: string): Promise<Readable> {
  const { stream: source } = await blobs.get(fileKey(fileId));
  const decoded = new Base64Decode();
  source.once('error', (err) => decoded.destroy(err));
  decoded.once('close', () => source.destroy());
  return source.pipe(decoded);
}
