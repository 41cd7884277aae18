// A tiny in-memory zip writer for tests (no zip library is installed): stored or deflated
// entries, UTF-8 names, Info-ZIP Unicode path extras, encryption flags, zip64 end records when
// there are more than 65,535 entries, and a prefix (a self-extractor's stub) before the archive.
import zlib from 'node:zlib';

export interface ZipEntry {
  name: string;
  data?: Buffer | string;
  /** default 'deflate' */
  method?: 'store' | 'deflate';
  /** an Info-ZIP Unicode path extra field (0x7075) carrying this name */
  unicodeName?: string;
  /** sets the "encrypted" flag (the data itself is left as is) */
  encrypted?: boolean;
}

export interface ZipOptions {
  /** bytes in front of the archive; offsets stay relative to the archive, as real SFX stubs do */
  prefix?: Buffer;
  /** entry count written in the end record (default: the real count); to make a lying archive */
  declaredCount?: number;
}

function u16(n: number) {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function u64(n: number) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export function buildZip(entries: ZipEntry[], options: ZipOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const raw = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    const method = e.method === 'store' ? 0 : 8;
    const body = method === 8 ? zlib.deflateRawSync(raw) : raw;
    const name = Buffer.from(e.name, 'utf8');
    const flags = 0x800 | (e.encrypted ? 0x1 : 0);
    const crc = zlib.crc32(raw);
    const extra = e.unicodeName
      ? (() => {
          const unicode = Buffer.from(e.unicodeName, 'utf8');
          return Buffer.concat([u16(0x7075), u16(5 + unicode.length), Buffer.from([1]), u32(zlib.crc32(name)), unicode]);
        })()
      : Buffer.alloc(0);
    const common = [u16(20), u16(flags), u16(method), u16(0), u16(0x21), u32(crc), u32(body.length), u32(raw.length), u16(name.length), u16(extra.length)];
    const local = Buffer.concat([u32(0x04034b50), ...common, name, extra, body]);
    centrals.push(Buffer.concat([u32(0x02014b50), u16(20), ...common, u16(0), u16(0), u16(0), u32(0), u32(offset), name, extra]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const count = options.declaredCount ?? entries.length;
  const tail: Buffer[] = [];
  if (count > 0xffff) {
    const zip64At = offset + cd.length;
    tail.push(Buffer.concat([u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(count), u64(count), u64(cd.length), u64(offset)]));
    tail.push(Buffer.concat([u32(0x07064b50), u32(0), u64(zip64At), u32(1)]));
  }
  const c16 = Math.min(count, 0xffff);
  tail.push(Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(c16), u16(c16), u32(cd.length), u32(offset), u16(0)]));
  return Buffer.concat([options.prefix ?? Buffer.alloc(0), ...locals, cd, ...tail]);
}

/** The smallest bytes that look like a Windows PE image: "MZ", the header offset, "PE\0\0". */
export function fakeExecutable(size = 1024): Buffer {
  const b = Buffer.alloc(size);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  return b;
}
