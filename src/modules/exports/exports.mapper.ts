import type { components } from '../../generated/api.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { exportStatusLabel, type Lang } from '../../shared/i18n.ts';
import type { ExportView } from './export-columns.ts';
import type { ExportRow } from './exports.repository.ts';

export type Export = components['schemas']['Export'];
export type ExportCreate = components['schemas']['ExportCreate'];
export type ExportFilters = NonNullable<ExportCreate['filters']>;

export interface ExportListView {
  lang: Lang;
  timeZone: string;
  publicBaseUrl: string;
  now: Date;
}

/** A completed export past its expiry shows as expired even before the periodic job marks it. */
export function exportStatus(row: { status: string; expires_at: Date | null }, now: Date): string {
  return row.status === 'C' && row.expires_at !== null && row.expires_at.getTime() <= now.getTime() ? 'E' : row.status;
}

const num = (v: string | null) => (v === null ? null : Number(v));

export function toExport(row: ExportRow, view: ExportListView): Export {
  const status = exportStatus(row, view.now);
  return {
    exportId: row.id,
    view: row.view as ExportView,
    filters: (row.filters ?? {}) as ExportFilters,
    status: exportStatusLabel(status, view.lang),
    requestDate: toNesDateTime(row.requested_at, view.timeZone)!,
    completeDate: toNesDateTime(row.completed_at, view.timeZone),
    expireDate: toNesDateTime(row.expires_at, view.timeZone),
    rowCount: num(row.row_count),
    fileSize: num(row.file_size),
    downloadUrl: status === 'C' ? `${view.publicBaseUrl}/api/v1/exports/${row.id}/file` : null,
    errorMessage: status === 'F' ? row.error : null,
  };
}
