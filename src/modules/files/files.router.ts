import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import type { AppDeps } from '../../deps.ts';
import { fileParts, type MultipartLimits } from '../../http/multipart.ts';
import { createFiles, deleteFiles, FILE_LIMITS, getFiles, openMailAttachment } from './files.service.ts';

const UPLOAD_LIMITS: MultipartLimits = {
  fileBytes: FILE_LIMITS.fileBytes,
  files: FILE_LIMITS.filesPerUpload,
  totalBytes: FILE_LIMITS.filesPerUpload * FILE_LIMITS.fileBytes + 1024 * 1024,
};

/** RFC 6266 / RFC 8187: an ASCII stand-in for old clients, then the name in UTF-8. */
function attachmentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const utf8 = encodeURIComponent(fileName).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/** NCP's file operations: createFile, getFile, deleteFile; and downloadMailAttachment (extension). */
export function filesRouter(deps: AppDeps): Router {
  const router = Router();
  router.post('/files', async (req, res) => {
    const upload = await createFiles(deps, req.projectId!, fileParts(req, UPLOAD_LIMITS));
    req.log.info({ tempRequestId: upload.tempRequestId, files: upload.files.length }, 'files uploaded');
    res.status(201).json(upload);
  });

  router.get('/files/:tempRequestId', async (req, res) => {
    res.json(await getFiles(deps, req.projectId!, req.params.tempRequestId));
  });

  router.delete('/files/:tempRequestId', async (req, res) => {
    const upload = await deleteFiles(deps, req.projectId!, req.params.tempRequestId);
    req.log.info({ tempRequestId: upload.tempRequestId }, 'upload deleted');
    res.json(upload);
  });

  router.get('/mails/:mailId/attachments/:fileId', async (req, res) => {
    const file = await openMailAttachment(deps, req.projectId!, req.params.mailId, req.params.fileId);
    res.set({
      'Content-Type': file.contentType,
      'Content-Length': String(file.size),
      'Content-Disposition': attachmentDisposition(file.fileName),
      // Served from the console's origin with the uploader's type: never sniffed into another
      // type, and if a browser renders it anyway (an HTML attachment opened), it runs nothing.
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    });
    try {
      await pipeline(file.stream, res);
    } catch (err) {
      // Headers are gone, so there is no error to answer: the connection is cut. A client that
      // went away (a cancelled download) is routine, not a failure of ours.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE')
        req.log.info({ fileId: req.params.fileId }, 'attachment download aborted by the client');
      else req.log.error({ err, fileId: req.params.fileId }, 'attachment download failed while streaming');
    }
  });

  return router;
}
