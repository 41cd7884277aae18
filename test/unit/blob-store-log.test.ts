import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { blobStoreLogFields } from '../../src/shared/blob-store/create-blob-store.ts';

// The start-up line names the S3 endpoint: credentials written into its URL must not reach the log.
describe('the blob store start-up log line', () => {
  function logged(env: Record<string, string>): string {
    let line = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        line += chunk.toString();
        done();
      },
    });
    pino({}, sink).info(blobStoreLogFields(loadConfig({ DATA_DIR: '/tmp/x', ...env }).blobStore), 'blob store');
    return line;
  }

  it('keeps the endpoint but drops its user name and password', () => {
    const line = logged({ BLOB_STORE: 's3', S3_BUCKET: 'mail-blobs', S3_ENDPOINT: 'https://AKIAEXAMPLE:s3cr3t-pass@minio.internal:9000/' });
    expect(line).toContain('minio.internal:9000');
    expect(line).toContain('mail-blobs');
    expect(line).not.toContain('s3cr3t-pass');
    expect(line).not.toContain('AKIAEXAMPLE');
  });

  it('says only the kind for the other stores, and no endpoint for AWS S3 itself', () => {
    expect(JSON.parse(logged({ BLOB_STORE: 'postgres' }))).toMatchObject({ blobStore: 'postgres' });
    expect(JSON.parse(logged({ BLOB_STORE: 's3', S3_BUCKET: 'mail-blobs' })).endpoint).toBeUndefined();
  });
});
