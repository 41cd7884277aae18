import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { Db } from '../../db/schema.ts';
import { BlobNotFoundError, checkKey, uploadFile, type BlobStore } from './blob-store.ts';
import { localCopies } from './local-copies.ts';

/** Bytes a row of blob_chunks holds: large enough for few round trips, small enough to hold one at a time. */
export const CHUNK_BYTES = 512 * 1024;
const LIST_PAGE = 1000;

/**
 * BLOB_STORE=postgres: blobs (one row a version) and blob_chunks (migrations/20261205010000_blobs.ts).
 * A put inserts its chunks as they arrive under a new incomplete row, then, in one transaction
 * (a per-key advisory lock orders concurrent puts of a key), drops the key's complete row and
 * marks its own complete: a reader sees the old blob or the new one, never a part. Every chunk is
 * its own statement, so neither a put nor a get holds a connection or more than a chunk.
 */
export function createPostgresBlobStore(db: Db, cacheDir: string): BlobStore {
  async function put(key: string, source: Readable): Promise<number> {
    checkKey(key);
    const id = crypto.randomUUID();
    await db.insertInto('blobs').values({ id, key, created_at: new Date() }).execute();
    let n = 0;
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (bytes: number) => {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      await db
        .insertInto('blob_chunks')
        .values({ blob_id: id, n, data: all.subarray(0, bytes) })
        .execute();
      n++;
      pending = bytes < all.length ? [all.subarray(bytes)] : [];
      pendingBytes = all.length - bytes;
    };
    try {
      for await (const chunk of source as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        pending.push(buf);
        pendingBytes += buf.length;
        size += buf.length;
        while (pendingBytes >= CHUNK_BYTES) await flush(CHUNK_BYTES);
      }
      if (pendingBytes > 0) await flush(pendingBytes);
      await db.transaction().execute(async (tx) => {
        await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`blob:${key}`}, 0))`.execute(tx);
        await tx.deleteFrom('blobs').where('key', '=', key).where('complete', '=', true).execute();
        const marked = await tx.updateTable('blobs').set({ complete: true, size, chunks: n }).where('id', '=', id).returning('id').execute();
        // removeAbandoned took a put slower than its cut-off: failing rolls back the delete above,
        // so the key keeps its old blob rather than reporting one that isn't there.
        if (marked.length === 0) throw new Error(`blob ${key}: the put was removed as abandoned before it completed`);
      });
    } catch (err) {
      // Its chunks go with it (ON DELETE CASCADE); if this fails too, removeAbandoned does it later.
      await db
        .deleteFrom('blobs')
        .where('id', '=', id)
        .execute()
        .catch(() => undefined);
      throw err;
    }
    return size;
  }

  async function get(key: string): Promise<{ stream: Readable; size: number }> {
    const row = await db.selectFrom('blobs').select(['id', 'size', 'chunks']).where('key', '=', checkKey(key)).where('complete', '=', true).executeTakeFirst();
    if (!row) throw new BlobNotFoundError(key);
    async function* chunks() {
      for (let n = 0; n < row!.chunks; n++) {
        const chunk = await db.selectFrom('blob_chunks').select('data').where('blob_id', '=', row!.id).where('n', '=', n).executeTakeFirst();
        // Replaced or removed while being read: the reader learns it, rather than getting a short blob.
        if (!chunk) throw new Error(`blob ${key} was removed while it was read`);
        yield chunk.data;
      }
    }
    return { stream: Readable.from(chunks(), { objectMode: false, highWaterMark: 1 }), size: Number(row.size) };
  }

  return {
    kind: 'postgres',
    put,
    putFile: uploadFile(put),
    get,
    async remove(key) {
      await db.deleteFrom('blobs').where('key', '=', checkKey(key)).where('complete', '=', true).execute();
    },
    async exists(key) {
      return (await db.selectFrom('blobs').select('id').where('key', '=', checkKey(key)).where('complete', '=', true).executeTakeFirst()) !== undefined;
    },
    async *list(prefix) {
      const like = `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
      let after = '';
      for (;;) {
        const rows = await db
          .selectFrom('blobs')
          .select(['key', 'created_at'])
          .where('complete', '=', true)
          .where(sql<boolean>`key LIKE ${like} AND key COLLATE "C" > ${after}`)
          .orderBy(sql`key COLLATE "C"`)
          .limit(LIST_PAGE)
          .execute();
        for (const r of rows) yield { key: r.key, modifiedAt: r.created_at };
        if (rows.length < LIST_PAGE) return;
        after = rows.at(-1)!.key;
      }
    },
    ...localCopies(cacheDir, get),
    async removeAbandoned(before) {
      const rows = await db.deleteFrom('blobs').where('complete', '=', false).where('created_at', '<', before).returning('id').execute();
      return rows.length;
    },
    close: async () => undefined,
  };
}
