import { randomUUID } from 'node:crypto';
import type { SendMailOptions } from 'nodemailer';
import * as base64 from 'nodemailer/lib/base64';
import MailComposer from 'nodemailer/lib/mail-composer';
import MimeNode from 'nodemailer/lib/mime-node';
import * as qp from 'nodemailer/lib/qp';
import { signRaw, type SigningMailOptions } from './dkim-sign-message.ts';
import { isPlainAddress } from './plain-address.ts';

/** What composeNow reads of nodemailer's MIME node beyond its typed API. */
interface NodeInternals {
  content?: unknown;
  contentType?: string;
  multipart?: string | false;
  boundary?: string;
  childNodes: MimeNode[];
  _raw?: unknown;
  _transforms: unknown[];
  _processFuncs: unknown[];
  newline?: unknown;
  buildHeaders(): string;
  getTransferEncoding(): string | false;
  setEnvelope(envelope: unknown): void;
  getEnvelope(): { from: string | false };
}

const internals = (node: MimeNode) => node as unknown as NodeInternals;

/** Nothing in the tree is a stream or transforms the output: it can be written out at once. */
function inMemory(node: MimeNode, root: boolean): boolean {
  const n = internals(node);
  if (n._transforms.length || n._processFuncs.length || (root && n.newline)) return false;
  if (n._raw !== undefined && n._raw !== false) return false;
  if (n.content !== undefined && n.content !== null && typeof n.content !== 'string' && !Buffer.isBuffer(n.content)) return false;
  return n.childNodes.every((child) => inMemory(child, false));
}

/**
 * One part and its children, written out as nodemailer's MimeNode.stream writes them; false for
 * content only its streams encode right.
 */
function writeNode(node: MimeNode, out: string[], plainPart = false): boolean {
  const n = internals(node);
  let encoding: string;
  if (plainPart) {
    const contentType = String(node.getHeader('Content-Type'));
    encoding = String(n.getTransferEncoding());
    out.push(partHeader(node, contentType, encoding) + '\r\n\r\n');
    // what buildHeaders sets, as MimeNode.stream would have it (a text part: never binary)
    n.contentType = contentType.split(';')[0]!.trim().toLowerCase();
  } else {
    // also sets contentType, multipart and the Content-Transfer-Encoding it chose (getTransferEncoding
    // scans the content: once is enough)
    out.push(n.buildHeaders() + '\r\n\r\n');
    encoding = String(node.getHeader('Content-Transfer-Encoding') ?? '').toLowerCase();
  }
  if (n.content !== undefined && n.content !== null && n.content !== '') {
    const content = n.content as string | Buffer;
    if (encoding === 'base64') out.push(base64.wrap(base64.encode(content), 76));
    else if (encoding === 'quoted-printable') {
      // outside text a lone CR or LF is data (nodemailer's binary mode, which qp.encode lacks)
      if (!/^text\//i.test(n.contentType ?? '')) return false;
      // nodemailer's encoder wraps a larger part slice by slice, and its soft line breaks then
      // fall elsewhere than one wrap of the whole gives (the same text once decoded)
      if (Buffer.byteLength(content) > QP_SLICE_BYTES) return false;
      out.push(qp.wrap(qp.encode(content), 76));
    } else {
      // as it is: only 7-bit text is (bytes are encoded)
      if (typeof content !== 'string') return false;
      out.push(content);
    }
  }
  if (!n.multipart) return true;
  for (let i = 0; i < n.childNodes.length; i++) {
    out.push((i > 0 ? '\r\n' : '') + '--' + n.boundary + '\r\n');
    if (!writeNode(n.childNodes[i]!, out, plainParts.has(node))) return false;
  }
  out.push('\r\n--' + n.boundary + '--\r\n');
  return true;
}

/** held by the Message-ID header until composeNow draws it: else the composer draws one at once, by five calls of randomBytes */
const PENDING_ID = '<pending@compose-message>';

/** nodemailer's quoted-printable encoder works in slices of this many bytes (qp.Encoder's ENCODE_SLICE_SIZE) */
const QP_SLICE_BYTES = 64 * 1024;

/** the address of a From given as a plain address (a string or { name, address }) */
function plainAddressOf(value: unknown): string | undefined {
  const address = typeof value === 'string' ? value : value && typeof value === 'object' ? (value as { address?: unknown }).address : undefined;
  return typeof address === 'string' && isPlainAddress(address) ? address : undefined;
}

/** 16 random hex digits: a message's boundaries, as nodemailer draws them. */
const randomHex16 = () => randomUUID().replace(/-/g, '').slice(0, 16);

/** The fields of a message plainTree builds (what buildMessage gives, without attachments). */
const PLAIN_FIELDS = new Set(['from', 'to', 'cc', 'subject', 'html', 'text', 'envelope', 'references', 'headers', 'messageId', 'date', 'baseBoundary']);

/** The root header fields MailComposer sets from the message, in its order (after any custom headers). */
const ROOT_FIELDS: [string, keyof SendMailOptions][] = [
  ['from', 'from'],
  ['to', 'to'],
  ['cc', 'cc'],
  ['references', 'references'],
  ['subject', 'subject'],
  ['message-id', 'messageId'],
  ['date', 'date'],
];

/**
 * The MIME tree MailComposer would build for a message of text and HTML strings and plain
 * header fields, built with nodemailer's MimeNode directly: MailComposer's general path (data
 * URLs, attachments, alternatives) and the random boundary each child part draws for nothing
 * (crypto.randomBytes, twice a mail) cost a third of composing. undefined for any other message.
 */
export function plainTree(message: SendMailOptions, baseBoundary: string): MimeNode | undefined {
  for (const key of Object.keys(message)) if (!PLAIN_FIELDS.has(key)) return undefined;
  const { text, html } = message;
  if ((text !== undefined && typeof text !== 'string') || (html !== undefined && typeof html !== 'string')) return undefined;
  // as MailComposer.getAlternatives and compile: the parts that are not empty, text first
  const parts: [string, string][] = [];
  if (text) parts.push(['text/plain; charset=utf-8', text]);
  if (html) parts.push(['text/html; charset=utf-8', html]);
  const options = { baseBoundary };
  let root: MimeNode;
  if (parts.length > 1) {
    root = new MimeNode('multipart/alternative', options);
    for (const [type, content] of parts) root.createChild(type, options).setContent(content);
  } else {
    const [type, content] = parts[0] ?? ['text/plain', ''];
    root = new MimeNode(type, options).setContent(content);
  }
  if (message.headers) root.addHeader(message.headers as Record<string, string>);
  for (const [header, key] of ROOT_FIELDS) if (message[key]) root.setHeader(header, message[key] as string);
  // no setEnvelope: the envelope shows only in the Message-ID's domain, which composeNow finds
  plainParts.add(root);
  return root;
}

/** the trees plainTree built: their child parts have no header but Content-Type */
const plainParts = new WeakSet<MimeNode>();

/**
 * The header block of a part plainTree made (Content-Type and Content-Transfer-Encoding only),
 * by its type and encoding: made by nodemailer once, not for every mail (parsing and building
 * header values was a fifth of composing).
 */
const partHeaders = new Map<string, string>();
function partHeader(part: MimeNode, contentType: string, encoding: string): string {
  const key = `${contentType}\n${encoding}`;
  let header = partHeaders.get(key);
  if (header === undefined) {
    header = internals(part).buildHeaders();
    if (partHeaders.size < 64) partHeaders.set(key, header);
  }
  return header;
}

/**
 * The message's source, composed at once when every part is in memory (the rendered title,
 * HTML and text of a mail): the same bytes nodemailer's composer streams, from the same MIME tree
 * (headers, encodings and boundaries are nodemailer's), without its streams. Composing a 3.6 KB
 * mail through the streams took about 0.7 ms of CPU in a 20,000-mail loop, more than handing it
 * to the connection (a stream per part, a pipeline and a turn of the event loop each). The
 * boundaries and Message-ID are drawn as nodemailer draws them, from crypto.randomUUID's pool
 * instead of 8 calls of crypto.randomBytes (a quarter of what was left). undefined when a part
 * is a stream (a stored attachment): then only nodemailer's streaming composer will do.
 */
export function composeNow(message: SendMailOptions): { raw: Buffer; messageId: string } | undefined {
  const baseBoundary = message.baseBoundary ?? randomHex16();
  const withId = { ...message, messageId: message.messageId ?? PENDING_ID };
  const root = plainTree(withId, baseBoundary) ?? new MailComposer({ ...withId, baseBoundary }).compile();
  if (!inMemory(root, true)) return undefined;
  if (root.getHeader('Message-ID') === PENDING_ID) {
    // nodemailer's form: a random UUID at the envelope sender's domain, or the From address's
    // without an envelope; a plain address is taken as it is, nodemailer parses and normalises
    // any other (punycode, lower case)
    let from = message.envelope ? plainAddressOf(message.envelope.from) : plainAddressOf(message.from);
    if (!from) {
      if (message.envelope) root.setEnvelope(message.envelope);
      from = internals(root).getEnvelope().from || undefined;
    }
    const domain = (from || 'localhost').split('@').pop();
    root.setHeader('Message-ID', `<${randomUUID()}@${domain}>`);
  }
  const out: string[] = [];
  if (!writeNode(root, out)) return undefined;
  const source = Buffer.from(out.join(''), 'utf8');
  const last = source[source.length - 1];
  // as nodemailer's LastNewline: the source ends with a line break
  const raw = last === 0x0a ? source : Buffer.concat([source, Buffer.from(last === 0x0d ? '\n' : '\r\n')]);
  return { raw, messageId: String(root.getHeader('Message-ID')) };
}

/**
 * The message as signed raw source (its DKIM-Signature in front when it carries `dkimSigning`),
 * composed at once; undefined when a part is a stream, which only the transport's streaming
 * composer should read (an attachment is not held whole in memory for every mail).
 */
export async function sourceNow(message: SigningMailOptions): Promise<SendMailOptions | undefined> {
  if (message.raw) return message;
  // composed without the envelope, as sourceOf does: the Message-ID is at the From address's
  // domain (build-message.ts), not at a VERP return path's
  const { dkimSigning, envelope, ...content } = message;
  const composed = composeNow(content);
  if (!composed) return undefined;
  // its own Message-ID, or the transport's composer draws a Message-ID for raw source too (five randomBytes calls), unless given one
  return { envelope, raw: dkimSigning ? await signRaw(composed.raw, dkimSigning) : composed.raw, messageId: composed.messageId };
}

/**
 * The message as signed raw source, however its parts are given: for bytes sent more than once
 * (a transaction per recipient, a host after another) with one Message-ID and one signature, and
 * a stream attachment read once.
 */
export async function sourceOf(message: SigningMailOptions): Promise<SendMailOptions> {
  const now = await sourceNow(message);
  if (now) return now;
  // a part is a stream: nodemailer's streaming composer reads it, once
  const { dkimSigning, envelope, ...content } = message;
  const raw = await new MailComposer(content).compile().build();
  return { envelope, raw: dkimSigning ? await signRaw(raw, dkimSigning) : raw };
}
