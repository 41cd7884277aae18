// Hand-written .xlsx files for tests: the XML parts as a test wants them (shared strings, rich
// text, formulas, odd prefixes, broken parts), zipped with the test zip writer.
import { buildZip, type ZipEntry } from './zip.ts';

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';

const DEFAULT_WORKBOOK = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook ${NS}><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`;

export const DEFAULT_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>
</Relationships>`;

/** A worksheet from raw `<row>` XML. */
export const sheetXml = (rowsXml: string) => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet ${NS}><sheetData>${rowsXml}</sheetData></worksheet>`;

export const sharedStringsXml = (items: string[]) => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst ${NS} count="${items.length}" uniqueCount="${items.length}">${items.map((s) => (s.startsWith('<') ? `<si>${s}</si>` : `<si><t xml:space="preserve">${esc(s)}</t></si>`)).join('')}</sst>`;

/** Rows of inline strings (numbers as numbers, booleans as booleans, null as no cell), numbered from 1. */
export function inlineRowsXml(rows: (string | number | boolean | null)[][]): string {
  return rows
    .map((cells, i) => {
      const r = i + 1;
      const cs = cells
        .map((v, c) => {
          if (v === null) return '';
          const ref = `${String.fromCharCode(65 + c)}${r}`;
          if (typeof v === 'number') return `<c r="${ref}"><v>${v}</v></c>`;
          if (typeof v === 'boolean') return `<c r="${ref}" t="b"><v>${v ? 1 : 0}</v></c>`;
          return `<c r="${ref}" t="inlineStr"><is><t>${esc(v)}</t></is></c>`;
        })
        .join('');
      return `<row r="${r}">${cs}</row>`;
    })
    .join('');
}

export interface XlsxParts {
  sheet: string;
  sharedStrings?: string;
  workbook?: string;
  rels?: string | null;
  sheetPath?: string;
  extra?: ZipEntry[];
}

export function buildXlsx(parts: XlsxParts): Buffer {
  const entries: ZipEntry[] = [
    { name: '[Content_Types].xml', data: '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>' },
    { name: 'xl/workbook.xml', data: parts.workbook ?? DEFAULT_WORKBOOK },
    { name: parts.sheetPath ?? 'xl/worksheets/sheet1.xml', data: parts.sheet },
  ];
  if (parts.rels !== null) entries.push({ name: 'xl/_rels/workbook.xml.rels', data: parts.rels ?? DEFAULT_RELS });
  if (parts.sharedStrings !== undefined) entries.push({ name: 'xl/sharedStrings.xml', data: parts.sharedStrings });
  return buildZip([...entries, ...(parts.extra ?? [])]);
}

/** A simple .xlsx of inline-string rows. */
export const simpleXlsx = (rows: (string | number | boolean | null)[][]) => buildXlsx({ sheet: sheetXml(inlineRowsXml(rows)) });
