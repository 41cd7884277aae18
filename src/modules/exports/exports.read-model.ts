import type { Db } from '../../db/schema.ts';
import { toPage, totalFromPage, type Page, type Paging } from '../../http/paging.ts';
import { toExport, type Export, type ExportListView } from './exports.mapper.ts';
import * as repo from './exports.repository.ts';

/** getExportList's only order: newest first (what the console's download list shows). */
const EXPORT_LIST_SORT = [{ property: 'createUtc', direction: 'DESC' as const }];

export async function getExportList(db: Db, projectId: string, paging: Paging, view: ExportListView): Promise<Page<Export>> {
  const rows = await repo.listExports(db, projectId, paging.size, paging.page * paging.size);
  const total = totalFromPage(rows.length, paging) ?? (await repo.countExports(db, projectId));
  return toPage(
    rows.map((r) => toExport(r, view)),
    total,
    paging,
    EXPORT_LIST_SORT,
  );
}

/** Exports by id in the getExportList shape (a webhook's payload); ids not found are left out. */
export async function getExportsByIds(db: Db, ids: string[], view: ExportListView): Promise<Map<string, Export>> {
  const rows = await repo.findExports(db, ids);
  return new Map(rows.map((r) => [String(r.id), toExport(r, view)]));
}
