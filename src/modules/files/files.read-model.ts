import type { Db } from '../../db/schema.ts';
import type { NumericId } from '../../shared/ids.ts';
import { toAttachFile, type AttachFile } from './files.mapper.ts';

/** A request's attachments as getMail shows them: kept with the request, even after the upload is gone. */
export async function attachFilesOfRequest(db: Db, requestId: string): Promise<AttachFile[]> {
  const rows = await db
    .selectFrom('request_files')
    .select(['file_id as id', 'file_name as name', 'file_size as size'])
    .where('request_id', '=', requestId)
    .orderBy('position')
    .execute();
  return rows.map(toAttachFile);
}

/** The attachments of each request, in order, with whether the upload (its bytes) is still kept. */
export async function deliveryAttachmentRows(db: Db, requestIds: string[]) {
  return db
    .selectFrom('request_files as rf')
    .leftJoin('files as f', 'f.id', 'rf.file_id')
    .select(['rf.request_id', 'rf.file_id', 'rf.file_name', 'f.id as present'])
    .where('rf.request_id', 'in', requestIds)
    .orderBy('rf.request_id')
    .orderBy('rf.position')
    .execute();
}

/** One attachment of a mail's request, if the mail is the project's and the file is one of its request's. */
export async function findMailAttachment(db: Db, projectId: string, mailId: NumericId, fileId: string) {
  return db
    .selectFrom('mails as m')
    .innerJoin('request_files as rf', 'rf.request_id', 'm.request_id')
    .leftJoin('files as f', 'f.id', 'rf.file_id')
    .select(['rf.file_name', 'rf.file_size', 'f.id as present'])
    .where('m.id', '=', String(mailId.seq))
    .where('m.id_day', '=', mailId.day)
    .where('m.project_id', '=', projectId)
    .where('rf.file_id', '=', fileId)
    .executeTakeFirst();
}
