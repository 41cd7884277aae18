import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Settings } from '../../config.ts';
import { BlobNotFoundError, checkKey, counted, uploadFile, type BlobStore } from './blob-store.ts';
import { localCopies } from './local-copies.ts';

/** Multipart upload: parts of this size, two in flight (what a put holds in memory at most). */
const PART_BYTES = 8 * 1024 * 1024;

const isMissing = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

const isNotImplemented = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501;
};

/**
 * BLOB_STORE=s3: one object a blob in an S3-compatible bucket. A put streams through a multipart
 * upload (lib-storage), and S3 makes the object visible only once the upload completes, so a
 * reader never sees a part; an upload that dies is aborted, and one left by a process that died
 * is aborted by removeAbandoned (a lifecycle rule that aborts incomplete uploads does it too).
 */
export function createS3BlobStore(s3: S3Settings, cacheDir: string): BlobStore {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    credentials: s3.accessKeyId && s3.secretAccessKey ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } : undefined,
    // S3-compatible servers differ in the checksums they take: send them only where S3 requires one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const Bucket = s3.bucket;
  const Key = (key: string) => s3.prefix + checkKey(key);

  async function put(key: string, source: Readable): Promise<number> {
    const count = { bytes: 0 };
    const upload = new Upload({
      client,
      params: { Bucket, Key: Key(key), Body: Readable.from(counted(source as AsyncIterable<Buffer>, count)) },
      partSize: PART_BYTES,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
    return count.bytes;
  }

  async function get(key: string): Promise<{ stream: Readable; size: number }> {
    try {
      const out = await client.send(new GetObjectCommand({ Bucket, Key: Key(key) }));
      return { stream: out.Body as Readable, size: Number(out.ContentLength ?? 0) };
    } catch (err) {
      if (isMissing(err)) throw new BlobNotFoundError(key);
      throw err;
    }
  }

  return {
    kind: 's3',
    put,
    putFile: uploadFile(put),
    get,
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: Key(key) }));
    },
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket, Key: Key(key) }));
        return true;
      } catch (err) {
        if (isMissing(err)) return false;
        throw err;
      }
    },
    async *list(prefix) {
      let ContinuationToken: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: s3.prefix + prefix, ContinuationToken }));
        for (const o of page.Contents ?? []) {
          if (o.Key && o.LastModified) yield { key: o.Key.slice(s3.prefix.length), modifiedAt: o.LastModified };
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
    },
    ...localCopies(cacheDir, get),
    async removeAbandoned(before) {
      let removed = 0;
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      do {
        const page = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: s3.prefix, KeyMarker, UploadIdMarker })).catch((err) => {
          // Some S3-compatible servers can't list uploads: their lifecycle rule (README) is the clean-up then.
          if (isNotImplemented(err)) return undefined;
          throw err;
        });
        if (!page) return removed;
        for (const u of page.Uploads ?? []) {
          if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= before) continue;
          await client.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
          removed++;
        }
        [KeyMarker, UploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
      } while (KeyMarker);
      return removed;
    },
    close: async () => client.destroy(),
  };
}
