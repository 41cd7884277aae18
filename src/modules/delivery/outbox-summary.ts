import fs from 'node:fs/promises';

/** What `npm run outbox` and the dev sink's log line say about a stored message. */
export interface MessageSummary {
  from: string;
  to: string;
  subject: string;
  date: string;
}

/** The headers are at the top: a stored message is never read whole (attachments can be 20 MB). */
const HEAD_BYTES = 64 * 1024;

function decodeWord(charset: string, encoding: string, text: string): string {
  const bytes =
    encoding.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        );
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return text;
  }
}

/** RFC 2047 encoded words (`=?UTF-8?B?...?=`), as nodemailer writes names and subjects in any script. */
function decodeHeaderValue(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?*]+)(?:\*[^?]*)?\?([BbQq])\?([^?]*)\?=/g, (_m, cs: string, enc: string, text: string) => decodeWord(cs, enc, text));
}

/** From, To, Subject and Date of a message's header block (unfolded, decoded). */
function summariseHeaders(head: string): MessageSummary {
  const end = head.search(/\r?\n\r?\n/);
  const block = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ');
  const fields = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, decodeHeaderValue(line.slice(i + 1).trim()));
  }
  return { from: fields.get('from') ?? '', to: fields.get('to') ?? '', subject: fields.get('subject') ?? '', date: fields.get('date') ?? '' };
}

export async function summariseMessageFile(file: string): Promise<MessageSummary> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return summariseHeaders(buf.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await fh.close();
  }
}
