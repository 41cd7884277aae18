// Reads the cells of an .xlsx back for tests (files written by src/shared/xlsx/xlsx-writer.ts:
// inline strings, numbers, booleans), with yauzl: every sheet, in order, as rows of strings.
import yauzl from 'yauzl';

function entries(buf: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('not a zip'));
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

function columnIndex(ref: string): number {
  const letters = /^[A-Z]+/.exec(ref)![0];
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/** Every sheet's rows (sheet1 first); empty cells are ''. */
export async function readXlsx(buf: Buffer): Promise<{ sheetNames: string[]; sheets: string[][][] }> {
  const files = await entries(buf);
  const workbook = files.get('xl/workbook.xml')?.toString('utf8') ?? '';
  const sheetNames = [...workbook.matchAll(/<sheet [^>]*name="([^"]*)"/g)].map((m) => unescapeXml(m[1]!));
  const sheets: string[][][] = [];
  for (let i = 1; files.has(`xl/worksheets/sheet${i}.xml`); i++) {
    const xml = files.get(`xl/worksheets/sheet${i}.xml`)!.toString('utf8');
    const rows: string[][] = [];
    for (const rm of xml.matchAll(/<row [^>]*>(.*?)<\/row>|<row [^>]*\/>/gs)) {
      const row: string[] = [];
      for (const cm of (rm[1] ?? '').matchAll(/<c r="([A-Z]+)\d+"([^>]*?)(?:\/>|>(.*?)<\/c>)/gs)) {
        const idx = columnIndex(cm[1]!);
        const inner = cm[3] ?? '';
        const text = /<t[^>]*>(.*?)<\/t>/s.exec(inner)?.[1] ?? /<v>(.*?)<\/v>/s.exec(inner)?.[1] ?? '';
        while (row.length < idx) row.push('');
        row[idx] = unescapeXml(text);
      }
      rows.push(row);
    }
    sheets.push(rows);
  }
  return { sheetNames, sheets };
}

/** Rows of every sheet of an .xlsx on disk, counted while streaming (any size); header rows included. */
export async function countXlsxRows(file: string): Promise<{ rows: number; sheets: number }> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, z) => (err ? reject(err) : resolve(z!))),
  );
  let rows = 0;
  let sheets = 0;
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      if (!/^xl\/worksheets\/sheet\d+\.xml$/.test(entry.fileName)) return zip.readEntry();
      sheets++;
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return reject(err ?? new Error('no stream'));
        let tail = '';
        stream.on('data', (c: Buffer) => {
          // 4 characters carried over: a "<row " cut by a chunk boundary is counted once.
          const text = tail + c.toString('latin1');
          rows += text.split('<row ').length - 1;
          tail = text.slice(-4);
        });
        stream.on('end', () => zip.readEntry());
        stream.on('error', reject);
      });
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  return { rows, sheets };
}
