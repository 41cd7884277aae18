import type { components } from '../../generated/api.ts';

export type AttachFile = components['schemas']['AttachFile'];
export type FileUpload = components['schemas']['FileUpload'];

/** A file as NCP shows it: fileName, fileSize (bytes), fileId. */
export function toAttachFile(row: { id: string; name: string; size: string | number }): AttachFile {
  return { fileName: row.name, fileSize: Number(row.size), fileId: row.id };
}

export function toFileUpload(tempRequestId: string, rows: { id: string; name: string; size: string | number }[]): FileUpload {
  return { tempRequestId, files: rows.map(toAttachFile) };
}
