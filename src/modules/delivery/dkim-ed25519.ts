import crypto from 'node:crypto';

/**
 * An Ed25519 DKIM-Signature (RFC 8463, relaxed/relaxed, RFC 6376 §3.4) for a composed message:
 * nodemailer's signer knows only RSA. Returns the header field, CRLF-terminated, to put in front
 * of the message.
 */
export function ed25519Signature(raw: Buffer, opts: { domainName: string; keySelector: string; privateKey: string; headerFieldNames: string }): string {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split + 2);
  const body = split < 0 ? '' : text.slice(split + 4);
  const bh = crypto.createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');

  // header fields, unfolded; the signature covers the last instance of each named field
  const fields = head
    .replace(/\r\n(?=[ \t])/g, '')
    .split('\r\n')
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(':');
      return { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1) };
    });
  const signed: string[] = [];
  const lines: string[] = [];
  for (const name of opts.headerFieldNames.toLowerCase().split(':')) {
    const field = fields.findLast((f) => f.name === name);
    if (!field) continue;
    signed.push(name);
    lines.push(`${name}:${relaxedValue(field.value)}`);
  }
  const tags = `v=1; a=ed25519-sha256; c=relaxed/relaxed; d=${opts.domainName}; s=${opts.keySelector}; t=${Math.floor(Date.now() / 1000)}; bh=${bh}; h=${signed.join(':')}; b=`;
  const data = [...lines, `dkim-signature:${relaxedValue(tags)}`].join('\r\n');
  // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalised header data.
  const b = crypto.sign(null, crypto.createHash('sha256').update(data, 'latin1').digest(), opts.privateKey).toString('base64');
  return `DKIM-Signature: ${tags}${b}\r\n`;
}

function relaxedValue(value: string): string {
  return value.replace(/[ \t]+/g, ' ').trim();
}

function relaxedBody(body: string): string {
  const lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.length ? lines.join('\r\n') + '\r\n' : '';
}
