import type { BlobStore } from './blob-store.ts';
import { createLocalBlobStore } from './local-blob-store.ts';

/**
 * Where an area's leftovers can be: the blob store, and with a remote one also this host's
 * DATA_DIR, where its runs write their temporary `.part` files before storing them.
 */
export function storesToSweep(blobs: BlobStore, dataDir: string): BlobStore[] {
  return blobs.kind === 'local' ? [blobs] : [blobs, createLocalBlobStore(dataDir)];
}

/**
 * The orphan sweep of an area (`files/`, `exports/`): blobs under `prefix` written before
 * `before` (ms) whose owner id (`idOf` their name; undefined: not the area's) `live` does not
 * know are removed, asking about 1,000 at a time while listing. Returns how many went.
 */
export async function sweepOrphans(opts: {
  stores: BlobStore[];
  prefix: string;
  before: number;
  idOf: (name: string) => string | undefined;
  live: (ids: string[]) => Promise<Set<string>>;
  remove: (store: BlobStore, key: string, id: string) => Promise<void>;
}): Promise<number> {
  let removed = 0;
  for (const store of opts.stores) {
    let batch: { key: string; id: string }[] = [];
    const flush = async () => {
      const live = await opts.live(batch.map((b) => b.id));
      for (const b of batch) {
        if (live.has(b.id)) continue;
        await opts.remove(store, b.key, b.id);
        removed++;
      }
      batch = [];
    };
    for await (const entry of store.list(opts.prefix)) {
      const id = opts.idOf(entry.key.slice(opts.prefix.length));
      if (id === undefined || entry.modifiedAt.getTime() >= opts.before) continue;
      batch.push({ key: entry.key, id });
      if (batch.length >= 1000) await flush();
    }
    if (batch.length) await flush();
  }
  return removed;
}
