import zlib from 'node:zlib';
import { describe, expect, it, jest } from '@jest/globals';
import { BLOCKED_EXTENSIONS, blockedExtension } from '../../src/modules/files/blocked-extensions.ts';
import { inspectContent, looksLikeExecutable, looksLikeZip, ZIP_LIMITS, type ReadAt, type ZipLimits } from '../../src/modules/files/inspect-zip.ts';
import { buildZip, fakeExecutable } from '../helpers/zip.ts';

/** Reads from memory, counting what was read (to show the work stays bounded). */
function reader(buf: Buffer) {
  const stats = { reads: 0, bytes: 0 };
  const readAt: ReadAt = async (p, l) => {
    stats.reads++;
    const out = buf.subarray(Math.max(0, p), Math.max(0, p + l));
    stats.bytes += out.length;
    return out;
  };
  return { readAt, stats };
}

const inspect = (buf: Buffer, limits?: ZipLimits) => inspectContent(reader(buf).readAt, buf.length, limits);

async function expectRefused(buf: Buffer, reason: RegExp, limits?: ZipLimits) {
  const result = await inspect(buf, limits);
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.reason).toMatch(reason);
}

describe('blockedExtension', () => {
  it.each([...BLOCKED_EXTENSIONS])('refuses .%s', (ext) => {
    expect(blockedExtension(`file.${ext}`)).toBe(ext);
  });

  it.each([
    ['SETUP.EXE', 'exe'],
    ['setup.exe.', 'exe'],
    ['setup.exe . ', 'exe'],
    ['dir/sub/run.bat', 'bat'],
    ['C:\\Users\\me\\run.cmd', 'cmd'],
    ['archive.tar.jar', 'jar'],
    ['한글이름.vbs', 'vbs'],
  ])('%s → .%s', (name, ext) => {
    expect(blockedExtension(name)).toBe(ext);
  });

  it.each(['report.pdf', 'notes.txt', 'exe', 'photo.jpeg', 'archive.zip', 'script.json', 'data.jsx', 'x.exe.txt', 'no-extension', '.bashrc'])(
    'allows %s',
    (name) => {
      expect(blockedExtension(name)).toBeUndefined();
    },
  );
});

describe('magic bytes', () => {
  it('tells a zip by its first bytes, whatever its name', () => {
    expect(looksLikeZip(buildZip([{ name: 'a.txt', data: 'x' }]))).toBe(true);
    expect(looksLikeZip(buildZip([]))).toBe(true); // an empty archive starts with its end record
    expect(looksLikeZip(Buffer.from('PK is just text'))).toBe(false);
  });

  it('tells a PE executable by its MZ stub and PE header, not by "MZ" alone', () => {
    expect(looksLikeExecutable(fakeExecutable())).toBe(true);
    expect(looksLikeExecutable(Buffer.from('MZ is a fine way to start a text file, and this one goes on long enough to have a 0x3c offset'))).toBe(false);
  });
});

describe('inspectContent: plain files', () => {
  it('accepts ordinary content', async () => {
    expect(await inspect(Buffer.from('hello, world'))).toEqual({ ok: true });
    expect(await inspect(Buffer.alloc(0))).toEqual({ ok: true });
    expect(await inspect(Buffer.from('%PDF-1.7\n...binary...'))).toEqual({ ok: true });
  });

  it('refuses a Windows executable under any name', async () => {
    await expectRefused(fakeExecutable(), /Windows executable/);
  });

  it('accepts bytes that merely end like a zip directory', async () => {
    const fake = Buffer.concat([Buffer.from('text then a stray end record '), Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(18)]);
    expect(await inspect(fake)).toEqual({ ok: true });
  });
});

describe('inspectContent: zip archives', () => {
  it('accepts an archive of harmless files', async () => {
    const zip = buildZip([
      { name: 'docs/readme.txt', data: 'read me' },
      { name: 'docs/', data: '' },
      { name: '報告書.pdf', data: Buffer.alloc(5000, 1) },
      { name: 'stored.csv', data: 'a,b\n1,2\n', method: 'store' },
    ]);
    expect(await inspect(zip)).toEqual({ ok: true });
  });

  it.each(['evil.exe', 'sub/dir/run.bat', 'Install.MSI', 'trail.exe.', '스크립트.js'])('refuses an archive holding %s', async (name) => {
    await expectRefused(
      buildZip([
        { name: 'ok.txt', data: 'fine' },
        { name, data: 'x' },
      ]),
      /not allowed, also inside a zip/,
    );
  });

  it('names the blocked entry in the reason', async () => {
    await expectRefused(buildZip([{ name: 'tools/setup.exe', data: 'x' }]), /"tools\/setup\.exe": \.exe files/);
  });

  it('checks the Unicode path extra field too', async () => {
    await expectRefused(buildZip([{ name: 'harmless.txt', unicodeName: 'harmless.exe', data: 'x' }]), /harmless\.exe/);
  });

  it('refuses an executable hidden under a harmless name inside an archive', async () => {
    await expectRefused(buildZip([{ name: 'invoice.pdf', data: fakeExecutable(4096) }]), /"invoice\.pdf", which is a Windows executable/);
    await expectRefused(buildZip([{ name: 'invoice.pdf', data: fakeExecutable(4096), method: 'store' }]), /Windows executable/);
  });

  it('finds a zip behind a stub (self-extractor style) or after other bytes', async () => {
    const prefixed = buildZip([{ name: 'payload.vbs', data: 'x' }], { prefix: Buffer.from('#!/bin/sh\necho not really a script\n'.repeat(20)) });
    await expectRefused(prefixed, /payload\.vbs/);
  });

  it('inspects nested archives, stored or deflated, also when renamed', async () => {
    const inner = buildZip([{ name: 'deep/run.cmd', data: 'x' }]);
    await expectRefused(buildZip([{ name: 'inner.zip', data: inner }]), /"inner\.zip\/deep\/run\.cmd"/);
    await expectRefused(buildZip([{ name: 'inner.zip', data: inner, method: 'store' }]), /run\.cmd/);
    await expectRefused(buildZip([{ name: 'photo.jpg', data: inner }]), /"photo\.jpg\/deep\/run\.cmd"/);
    const twoDeep = buildZip([{ name: 'a.zip', data: buildZip([{ name: 'b.zip', data: inner }]) }]);
    await expectRefused(twoDeep, /a\.zip\/b\.zip\/deep\/run\.cmd/);
    expect(await inspect(buildZip([{ name: 'inner.zip', data: buildZip([{ name: 'ok.txt', data: 'ok' }]) }]))).toEqual({ ok: true });
  });

  it('refuses archives nested deeper than the limit', async () => {
    let zip = buildZip([{ name: 'bottom.txt', data: 'ok' }]);
    for (let i = 0; i < ZIP_LIMITS.maxDepth; i++) zip = buildZip([{ name: `level${i}.zip`, data: zip }]);
    await expectRefused(zip, new RegExp(`nested more than ${ZIP_LIMITS.maxDepth} levels`));
  });

  it('refuses an encrypted archive inside an archive (it could hide anything)', async () => {
    await expectRefused(buildZip([{ name: 'secret.zip', data: 'ciphertext', encrypted: true }]), /encrypted or compressed in a way that can't be inspected/);
    // an encrypted ordinary file is fine: its name is visible
    expect(await inspect(buildZip([{ name: 'secret.txt', data: 'ciphertext', encrypted: true }]))).toEqual({ ok: true });
  });

  it('refuses a damaged archive that starts like a zip', async () => {
    const zip = buildZip([{ name: 'a.txt', data: 'hello' }]);
    await expectRefused(zip.subarray(0, zip.length - 30), /zip archive/);
    const two = buildZip([
      { name: 'a.txt', data: 'hello' },
      { name: 'b.txt', data: 'world' },
    ]);
    const second = two.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), 4);
    two.writeUInt32LE(0x12345678, second); // the second entry's local header
    await expectRefused(two, /damaged zip archive \(local header of "b\.txt" is missing\)/);
  });
});

/**
 * Bytes the inspector inflated while `work` ran: the work done, counted exactly (CPU or wall
 * time would depend on what else the machine runs, and such tests fail under load).
 */
async function inflatedDuring(work: () => Promise<unknown>): Promise<number> {
  const real = zlib.inflateRawSync;
  let inflated = 0;
  const spy = jest.spyOn(zlib, 'inflateRawSync').mockImplementation((buf, options) => {
    const out = real(buf, options);
    inflated += out.length;
    return out;
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return inflated;
}

describe('inspectContent: bounded work', () => {
  it('refuses 100,000 entries at once, from the end record, without reading them', async () => {
    const entries = Array.from({ length: 100_000 }, (_, i) => ({ name: `f${i}.txt`, method: 'store' as const }));
    const zip = buildZip(entries);
    const { readAt, stats } = reader(zip);
    const result = await inspectContent(readAt, zip.length);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/too large to inspect \(more than 10000 entries/) });
    expect(stats.bytes).toBeLessThan(200_000);
  });

  it('stops reading entries at the limit even when the end record lies about their number', async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => ({ name: `f${i}.txt`, method: 'store' as const }));
    const zip = buildZip(entries, { declaredCount: 3 });
    const { readAt, stats } = reader(zip);
    const result = await inspectContent(readAt, zip.length);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/too large to inspect/) });
    expect(stats.reads).toBeLessThanOrEqual(2 * ZIP_LIMITS.maxEntries + 10);
  });

  it('does not inflate a bomb of big entries: only a few hundred bytes of each are looked at', async () => {
    const zeros = Buffer.alloc(16 * 1024 * 1024); // 16 MB of zeros deflate to ~16 KB
    const bomb = buildZip(Array.from({ length: 8 }, (_, i) => ({ name: `zeros${i}.bin`, data: zeros })));
    expect(bomb.length).toBeLessThan(256 * 1024);
    const { readAt, stats } = reader(bomb);
    const inflated = await inflatedDuring(async () => expect(await inspectContent(readAt, bomb.length)).toEqual({ ok: true }));
    expect(inflated).toBe(0); // nothing inflated beyond each entry's head
    expect(stats.bytes).toBeLessThan(64 * 1024 + 8 * 1024); // the end record's search window, then ~600 bytes an entry
  });

  it('refuses a nested archive that inflates beyond the budget, without inflating it all', async () => {
    const inner = buildZip([{ name: 'zeros.bin', data: Buffer.alloc(40 * 1024 * 1024), method: 'store' }]);
    const bomb = buildZip([{ name: 'inner.zip', data: inner }]);
    expect(bomb.length).toBeLessThan(200 * 1024);
    const inflated = await inflatedDuring(() => expectRefused(bomb, /too large to inspect/));
    expect(inflated).toBeLessThanOrEqual(ZIP_LIMITS.maxInflatedBytes + 64 * 1024);
    expect(inflated).toBeLessThan(inner.length);
  });

  it('bounds a recursive bomb (zips of zips of zeros) by the inflate budget', async () => {
    const limits: ZipLimits = { ...ZIP_LIMITS, maxInflatedBytes: 4 * 1024 * 1024 };
    let layer = buildZip([{ name: 'zeros.bin', data: Buffer.alloc(1024 * 1024), method: 'store' }]);
    for (let i = 0; i < 3; i++) layer = buildZip(Array.from({ length: 8 }, (_, j) => ({ name: `l${i}-${j}.zip`, data: layer })));
    const inflated = await inflatedDuring(() => expectRefused(layer, /too large to inspect/, limits));
    expect(inflated).toBeLessThanOrEqual(limits.maxInflatedBytes + 64 * 1024);
  });
});
