import MimeNode from 'nodemailer/lib/mime-node';
import { detectMimeType } from 'nodemailer/lib/mime-funcs';

/**
 * The MIME headers of an attachment part, built by nodemailer's own MimeNode exactly as it
 * builds them for `attachments: [{ filename }]`: the type from the name, the name in any script
 * as RFC 2231 `filename*` (and RFC 2047 in Content-Type's `name`), base64 transfer encoding.
 * Stored files are already base64 (see file-store.ts), so a mail carries this head followed by
 * the stored bytes as its raw part: nothing is encoded per mail.
 */
export function attachmentHead(fileName: string): Buffer {
  const child = new MimeNode('multipart/mixed').createChild(detectMimeType(fileName), { filename: fileName });
  child.setHeader('Content-Transfer-Encoding', 'base64');
  child.setHeader('Content-Disposition', 'attachment');
  return Buffer.from(`${child.buildHeaders()}\r\n\r\n`, 'latin1');
}
