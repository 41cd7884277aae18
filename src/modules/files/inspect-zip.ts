import zlib from 'node:zlib';
import { baseName, blockedExtension } from './blocked-extensions.ts';

/**
 * What an uploaded file really is, whatever its name says: a Windows executable is refused, and
 * a zip archive (found by its magic bytes or its end-of-directory record, so a .zip renamed .txt
 * or glued behind a stub is still a zip) is refused when any entry has a blocked extension or is
 * itself an executable, nested archives included.
 *
 * The work is bounded whatever the input: entries are read from the central directory (never by
 * extracting), at most `maxEntries` of them in all; only nested archives are inflated, at most
 * `maxInflatedBytes` in all and `maxDepth` levels deep. An archive beyond a bound is refused,
 * not waved through: what can't be inspected can't be vouched for. Reads go through `readAt`,
 * so a file on disk is never loaded whole.
 */

/** Up to `length` bytes at `position` (fewer at the end of the data). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

export interface ZipLimits {
  maxEntries: number;
  maxDepth: number;
  maxInflatedBytes: number;
}

export const ZIP_LIMITS: ZipLimits = { maxEntries: 10_000, maxDepth: 4, maxInflatedBytes: 32 * 1024 * 1024 };

export type Inspection = { ok: true } | { ok: false; reason: string };

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** Bytes of an entry's data looked at to tell what it is (enough for a PE header's offset). */
const SNIFF_BYTES = 512;
const CURSOR_BLOCK = 1024 * 1024;

const ok: Inspection = { ok: true };
const refuse = (reason: string): Inspection => ({ ok: false, reason });

/** A zip's first bytes: a local file header, an empty archive's end record, or a spanning marker. */
export function looksLikeZip(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && [0x0304, 0x0506, 0x0708].includes(head.readUInt16BE(2));
}

/** A Windows PE image ("MZ" stub whose header offset points at "PE\0\0"); a lone "MZ" is not enough. */
export function looksLikeExecutable(head: Buffer): boolean {
  if (head.length < 0x40 || head[0] !== 0x4d || head[1] !== 0x5a) return false;
  const pe = head.readUInt32LE(0x3c);
  return pe + 4 <= head.length && head.readUInt32BE(pe) === 0x50450000;
}

interface Budget {
  entries: number;
  inflated: number;
}

interface Entry {
  name: string;
  /** the Info-ZIP Unicode path, when the archive carries one besides the legacy name */
  unicodeName: string | undefined;
  flags: number;
  method: number;
  compressedSize: number;
  /** absolute position of the local header in the data read through readAt */
  localOffset: number;
}

class Corrupt extends Error {}
class OverBudget extends Error {}

/** Sequential reads of a byte range through readAt, a block at a time. */
class Cursor {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart: number;
  private pos: number;
  private readonly readAt: ReadAt;
  private readonly end: number;
  constructor(readAt: ReadAt, start: number, end: number) {
    this.readAt = readAt;
    this.end = end;
    this.bufStart = start;
    this.pos = start;
  }
  get remaining() {
    return this.end - this.pos;
  }
  async take(n: number): Promise<Buffer> {
    if (n > this.remaining) throw new Corrupt('central directory ends inside an entry');
    const offset = this.pos - this.bufStart;
    if (offset + n > this.buf.length) {
      const length = Math.min(Math.max(n, CURSOR_BLOCK), this.end - this.pos);
      this.buf = await this.readAt(this.pos, length);
      this.bufStart = this.pos;
      if (this.buf.length < n) throw new Corrupt('archive is truncated');
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }
}

interface Directory {
  count: number;
  /** where the central directory really starts, and where its own offsets say it does */
  cdStart: number;
  cdSize: number;
  /** added to the archive's offsets: bytes in front of the archive (a self-extractor's stub) */
  shift: number;
}

async function findDirectory(readAt: ReadAt, size: number): Promise<Directory | undefined> {
  if (size < EOCD_SIZE) return undefined;
  const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = size - tailLength;
  const tail = await readAt(tailStart, tailLength);
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== SIG_EOCD) continue;
    // The comment must run to the end of the data: a signature inside a comment does not count.
    if (i + EOCD_SIZE + tail.readUInt16LE(i + 20) !== tail.length) continue;
    const eocdPos = tailStart + i;
    let count = tail.readUInt16LE(i + 10);
    let cdSize = tail.readUInt32LE(i + 12);
    let cdOffset = tail.readUInt32LE(i + 16);
    let recordPos = eocdPos;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const z = await readZip64(readAt, eocdPos);
      if (!z) return undefined;
      ({ count, cdSize, cdOffset, recordPos } = z);
    }
    const cdStart = recordPos - cdSize;
    const shift = cdStart - cdOffset;
    if (cdStart < 0 || shift < 0) return undefined;
    if (cdSize > 0) {
      const sig = await readAt(cdStart, 4);
      if (sig.length < 4 || sig.readUInt32LE(0) !== SIG_CENTRAL) return undefined;
    }
    return { count, cdStart, cdSize, shift };
  }
  return undefined;
}

async function readZip64(readAt: ReadAt, eocdPos: number) {
  if (eocdPos < 20 + 56) return undefined;
  const locator = await readAt(eocdPos - 20, 20);
  if (locator.length < 20 || locator.readUInt32LE(0) !== SIG_ZIP64_LOCATOR) return undefined;
  // The zip64 record normally sits right before its locator; its recorded offset is off by a
  // self-extractor's stub, so the adjacent position is tried first.
  for (const pos of [eocdPos - 20 - 56, Number(locator.readBigUInt64LE(8))]) {
    if (pos < 0 || !Number.isSafeInteger(pos)) continue;
    const rec = await readAt(pos, 56);
    if (rec.length < 56 || rec.readUInt32LE(0) !== SIG_ZIP64_EOCD) continue;
    const count = Number(rec.readBigUInt64LE(32));
    const cdSize = Number(rec.readBigUInt64LE(40));
    const cdOffset = Number(rec.readBigUInt64LE(48));
    if (![count, cdSize, cdOffset].every(Number.isSafeInteger)) return undefined;
    return { count, cdSize, cdOffset, recordPos: pos };
  }
  return undefined;
}

function decodeName(raw: Buffer, utf8: boolean): string {
  return raw.toString(utf8 ? 'utf8' : 'latin1');
}

/** Central directory entries, at most `budget.entries` of them (the budget is spent as they are read). */
async function readEntries(readAt: ReadAt, dir: Directory, budget: Budget): Promise<Entry[]> {
  if (dir.count > budget.entries) throw new OverBudget();
  const cursor = new Cursor(readAt, dir.cdStart, dir.cdStart + dir.cdSize);
  const entries: Entry[] = [];
  while (cursor.remaining > 0) {
    if (budget.entries <= 0) throw new OverBudget();
    const h = await cursor.take(46);
    if (h.readUInt32LE(0) !== SIG_CENTRAL) {
      // Trailing bytes after the last entry (some writers pad) end the directory.
      if (entries.length >= dir.count) break;
      throw new Corrupt('central directory entry signature missing');
    }
    const flags = h.readUInt16LE(8);
    const method = h.readUInt16LE(10);
    let compressedSize = h.readUInt32LE(20);
    let size = h.readUInt32LE(24);
    const nameLength = h.readUInt16LE(28);
    const extraLength = h.readUInt16LE(30);
    const commentLength = h.readUInt16LE(32);
    let localOffset = h.readUInt32LE(42);
    const name = decodeName(Buffer.from(await cursor.take(nameLength)), (flags & 0x800) !== 0);
    const extra = Buffer.from(await cursor.take(extraLength));
    if (commentLength) await cursor.take(commentLength);
    let unicodeName: string | undefined;
    for (let p = 0; p + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(p);
      const len = extra.readUInt16LE(p + 2);
      const data = extra.subarray(p + 4, p + 4 + len);
      if (id === 0x0001) {
        // zip64: the 8-byte values of the fields that are 0xFFFFFFFF above, in this order
        let q = 0;
        const next = () => {
          const v = q + 8 <= data.length ? Number(data.readBigUInt64LE(q)) : NaN;
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      } else if (id === 0x7075 && data.length > 5) {
        unicodeName = data.subarray(5).toString('utf8');
      }
      p += 4 + len;
    }
    if (![size, compressedSize, localOffset].every(Number.isSafeInteger)) throw new Corrupt('entry sizes are unreadable');
    entries.push({ name, unicodeName, flags, method, compressedSize, localOffset: localOffset + dir.shift });
    budget.entries--;
  }
  return entries;
}

/** The first bytes of an entry's content, inflating no more than a few hundred compressed bytes. */
async function sniffEntry(readAt: ReadAt, e: Entry): Promise<{ dataStart: number; head: Buffer } | undefined> {
  const local = await readAt(e.localOffset, 30);
  if (local.length < 30 || local.readUInt32LE(0) !== SIG_LOCAL) throw new Corrupt(`local header of "${e.name}" is missing`);
  const dataStart = e.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const raw = await readAt(dataStart, Math.min(e.compressedSize, SNIFF_BYTES));
  if (e.method === 0) return { dataStart, head: raw };
  try {
    return { dataStart, head: await inflateHead(raw) };
  } catch {
    throw new Corrupt(`"${e.name}" is not valid deflate data`);
  }
}

/**
 * The first SNIFF_BYTES (or a little more) that `raw` deflate data decodes to. It stops there:
 * a bomb's first 512 bytes decode to ~500 KB, and an archive of 10,000 such entries would
 * otherwise cost 5 GB of inflating. A sync flush lets a truncated stream end without an error.
 */
async function inflateHead(raw: Buffer): Promise<Buffer> {
  const options = { chunkSize: 1024, highWaterMark: 1024, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const inflate = zlib.createInflateRaw(options);
  inflate.end(raw);
  const parts: Buffer[] = [];
  let length = 0;
  for await (const part of inflate as AsyncIterable<Buffer>) {
    parts.push(part);
    length += part.length;
    if (length >= SNIFF_BYTES) break; // leaving the loop destroys the stream
  }
  return Buffer.concat(parts);
}

const isArchiveName = (name: string) => /\.(zip|jar|apk|ipa|cab)$/i.test(baseName(name).replace(/[.\s]+$/u, ''));

async function inspectArchive(readAt: ReadAt, dir: Directory, path: string, depth: number, budget: Budget, limits: ZipLimits): Promise<Inspection> {
  const entries = await readEntries(readAt, dir, budget);
  for (const e of entries) {
    const shown = path + e.name;
    for (const name of [e.name, e.unicodeName]) {
      const ext = name === undefined ? undefined : blockedExtension(name);
      if (ext) return refuse(`contains "${path}${name}": .${ext} files are not allowed, also inside a zip`);
    }
    // The declared size may lie; only an entry without data can't hide anything.
    if (e.name.endsWith('/') || e.compressedSize === 0) continue;
    const readable = (e.flags & 0x1) === 0 && (e.method === 0 || e.method === 8);
    if (!readable) {
      if (isArchiveName(e.name)) return refuse(`contains the archive "${shown}", which is encrypted or compressed in a way that can't be inspected`);
      continue;
    }
    const sniffed = await sniffEntry(readAt, e);
    if (!sniffed) continue;
    if (looksLikeExecutable(sniffed.head)) return refuse(`contains "${shown}", which is a Windows executable`);
    if (!looksLikeZip(sniffed.head)) continue;
    if (depth + 1 >= limits.maxDepth) return refuse(`archives nested more than ${limits.maxDepth} levels deep can't be inspected ("${shown}")`);
    let inner: { readAt: ReadAt; size: number };
    if (e.method === 0) {
      const start = sniffed.dataStart;
      const size = e.compressedSize;
      inner = { size, readAt: (p, l) => readAt(start + p, Math.max(0, Math.min(l, size - p))) };
    } else {
      const left = limits.maxInflatedBytes - budget.inflated;
      let data: Buffer;
      try {
        // maxOutputLength is the real bound; the declared size may lie.
        data = zlib.inflateRawSync(await readAt(sniffed.dataStart, e.compressedSize), { maxOutputLength: Math.max(1, left) });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new OverBudget();
        throw new Corrupt(`"${shown}" is not valid deflate data`);
      }
      budget.inflated += data.length;
      inner = { size: data.length, readAt: async (p, l) => data.subarray(p, p + l) };
    }
    const innerDir = await findDirectory(inner.readAt, inner.size);
    if (!innerDir) return refuse(`contains "${shown}", which looks like a zip archive but can't be read`);
    const result = await inspectArchive(inner.readAt, innerDir, `${shown}/`, depth + 1, budget, limits);
    if (!result.ok) return result;
  }
  return ok;
}

/**
 * Inspects data of `size` bytes read through `readAt`: refuses Windows executables and zip
 * archives holding a blocked or executable entry, or that are too big or too deep to inspect.
 */
export async function inspectContent(readAt: ReadAt, size: number, limits: ZipLimits = ZIP_LIMITS): Promise<Inspection> {
  const head = await readAt(0, SNIFF_BYTES);
  if (looksLikeExecutable(head)) return refuse('is a Windows executable');
  const startsAsZip = looksLikeZip(head);
  const budget: Budget = { entries: limits.maxEntries, inflated: 0 };
  try {
    const dir = await findDirectory(readAt, size);
    if (!dir) return startsAsZip ? refuse("looks like a zip archive but its directory can't be read") : ok;
    return await inspectArchive(readAt, dir, '', 0, budget, limits);
  } catch (err) {
    if (err instanceof OverBudget) {
      return refuse(
        `is an archive too large to inspect (more than ${limits.maxEntries} entries or ${limits.maxInflatedBytes / 1024 / 1024} MB of nested archives)`,
      );
    }
    // Bytes that merely end like a zip directory, in a file that doesn't start as one, are data.
    if (err instanceof Corrupt) return startsAsZip ? refuse(`is a damaged zip archive (${err.message})`) : ok;
    throw err;
  }
}
